"""QIP shared: the contracts two packages must agree on, and the small runtime every function ships.

Shipped: contracts (`enums`, `record`, `events`, `pipeline`, `keys`, `config`), the Lambda
boundary and stage runtime (`boundary`, `stage`, `aws`) and imaging. Never shipped (the bundler
leaves them out, a built-bundle test checks): the CDK base `cdk` and the pytest fixtures `testing`.

Import each name from its module (`qip_shared.record.ImageRecord`): the package itself imports
nothing, so a function pays at cold start only for the contracts it uses.
"""
