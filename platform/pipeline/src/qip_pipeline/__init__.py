"""qip_pipeline: the state-machine definition and resource names (pure: no boto3, no CDK)."""
