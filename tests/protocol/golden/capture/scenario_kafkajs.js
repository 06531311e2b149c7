// KafkaJS scenario.  Usage: node scenario_kafkajs.js BOOTSTRAP
// Needs kafkajs@2.2.4 resolvable (capture_all.sh sets NODE_PATH).
'use strict';
const { Kafka, CompressionTypes, logLevel } = require('kafkajs');

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
  for (const [codec, compression] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP]]) {
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
  console.log('kafkajs', require('kafkajs/package.json').version);
  await produce();
  await consume();
  process.exit(0);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
