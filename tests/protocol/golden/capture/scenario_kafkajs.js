// KafkaJS scenario.  Usage: node scenario_kafkajs.js BOOTSTRAP
// Needs kafkajs@2.2.4 and the codec packages below resolvable (capture_all.sh
// npm-installs them in $KJS_DIR and sets NODE_PATH).
'use strict';
const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs');

// KafkaJS implements only none and gzip itself; snappy, lz4 and zstd need
// codec plugins.  These are pure JavaScript or bundled WebAssembly (no native
// builds), pinned to exact versions; the scenario refuses to run with others.
const PINNED = {
  kafkajs: '2.2.4',
  'kafkajs-snappy': '1.1.0', // KafkaJS's snappy plugin, on snappyjs
  snappyjs: '0.6.1',
  lz4js: '0.2.0',
  '@bokuweb/zstd-wasm': '0.0.27',
};
// Installed version of a package (read from disk: @bokuweb/zstd-wasm's
// "exports" does not expose its package.json to require()).
function installedVersion(name) {
  const fs = require('fs');
  const path = require('path');
  for (const dir of require.resolve.paths(name) || []) {
    const file = path.join(dir, name, 'package.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8')).version;
  }
  throw new Error(`${name} is not installed`);
}
for (const [name, want] of Object.entries(PINNED)) {
  const have = installedVersion(name);
  if (have !== want) throw new Error(`${name} ${have} is installed; this scenario is pinned to ${want}`);
}

// kafkajs-snappy compresses with snappyjs as one raw snappy block (no xerial
// framing); its decompress accepts both.
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');

// lz4js writes the LZ4 frame format (magic 0x184D2204, FLG 0x40, BD 0x70,
// header checksum, no block or content checksums), which is what Kafka
// expects in a v2 record batch.
const lz4js = require('lz4js');
const toBuffer = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  async compress(encoder) {
    return toBuffer(lz4js.compress(encoder.buffer));
  },
  async decompress(buffer) {
    return toBuffer(lz4js.decompress(buffer));
  },
});

// zstd through libzstd compiled to WebAssembly: one zstd frame, level 3.
const zstd = require('@bokuweb/zstd-wasm');
const zstdReady = zstd.init();
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress(encoder) {
    await zstdReady;
    return toBuffer(zstd.compress(encoder.buffer, 3));
  },
  async decompress(buffer) {
    await zstdReady;
    return toBuffer(zstd.decompress(buffer));
  },
});

const BOOTSTRAP = process.argv[2];
const BASE_TS = 1700000000000;

const kafka = new Kafka({
  clientId: 'golden-kafkajs',
  brokers: [BOOTSTRAP],
  logLevel: logLevel.WARN,
  retry: { retries: 3 },
});

// Other clients send a batch uncompressed when compression does not make it
// smaller, so compressed topics get a compressible tail on each value
// (KafkaJS always compresses; the values are kept identical across clients).
function value(codec, i) {
  return codec === 'none' ? `value-${i}` : `value-${i}:` + 'golden'.repeat(16);
}

function messages(codec) {
  const out = [];
  for (let i = 0; i < 3; i++) {
    const m = { key: `key-${i}`, value: value(codec, i), partition: 0, timestamp: String(BASE_TS + i) };
    if (i === 0) m.headers = { h: 'v' };
    out.push(m);
  }
  return out;
}

async function produce() {
  const producer = kafka.producer();
  await producer.connect();
  const codecs = [
    ['none', CompressionTypes.None],
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ];
  for (const [codec, compression] of codecs) {
    await producer.send({ topic: `golden-${codec}`, acks: -1, compression, messages: messages(codec) });
    console.log(`produced 3 records to golden-${codec}`);
  }
  await producer.disconnect();
}

async function consume() {
  const consumer = kafka.consumer({ groupId: 'golden-group', sessionTimeout: 10000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: ['golden-none'], fromBeginning: true });
  let seen = 0;
  let lastOffset = null;
  const done = new Promise((resolve) => {
    consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        seen += 1;
        lastOffset = message.offset;
        if (seen === 3) resolve();
      },
    });
  });
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('consume timeout')), 30000));
  await Promise.race([done, timeout]);
  // Stay in the group long enough for at least one Heartbeat.
  await new Promise((r) => setTimeout(r, 1500));
  const next = String(Number(lastOffset) + 1);
  await consumer.commitOffsets([{ topic: 'golden-none', partition: 0, offset: next }]);
  await consumer.disconnect(); // LeaveGroup
  console.log(`consumed ${seen} records and committed offset ${next}`);
}

(async () => {
  for (const name of Object.keys(PINNED)) console.log(name, installedVersion(name));
  await produce();
  await consume();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
