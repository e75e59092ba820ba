// sharp over a list of files, the way a Node.js Lambda would do the four stages:
// metadata() for validate + metadata (header only), then one decode at the smallest
// scale that serves the 1024x768 output (shrink-on-load), from which both outputs derive.
// Usage: node sharp_bench.cjs <npm prefix holding sharp> <files.json> <images in flight>
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const { createRequire } = require("node:module");

const [prefix, listFile, inFlightArg] = process.argv.slice(2);
const sharp = createRequire(path.join(prefix, "package.json"))("sharp");
const files = JSON.parse(fs.readFileSync(listFile, "utf8"));
const inFlight = Number(inFlightArg || 2);

async function processOne(file) {
  const data = await fs.promises.readFile(file);
  const meta = await sharp(data).metadata();
  if (!meta.width || !meta.height) throw new Error(`no size: ${file}`);
  const { data: pixels, info } = await sharp(data)
    .rotate()
    .resize(1024, 768, { fit: "inside", withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
  await Promise.all([
    sharp(pixels, raw).jpeg({ quality: 85 }).toBuffer(),
    sharp(pixels, raw).resize(200, 200, { fit: "cover" }).jpeg({ quality: 85 }).toBuffer(),
  ]);
}

async function run(list) {
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const file = list[next++];
      await processOne(file);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

(async () => {
  await run(files.slice(0, inFlight)); // warm-up, as for the Python pools
  const started = process.hrtime.bigint();
  const cpuBefore = process.cpuUsage();
  await run(files);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  console.log(
    JSON.stringify({
      images: files.length,
      seconds,
      cpu_seconds: (cpu.user + cpu.system) / 1e6,
      in_flight: inFlight,
      sharp: sharp.versions.sharp,
      libvips: sharp.versions.vips,
      vips_concurrency: sharp.concurrency(),
      node: process.version,
    }),
  );
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
