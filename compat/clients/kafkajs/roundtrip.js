#!/usr/bin/env node
// KafkaJS round trip against a Vltava broker: for every codec, create "<topic>-<codec>" with the admin client, produce
// --count records with keys, values, headers and timestamps to partition 0 (acks=all), then check with the admin
// client that the partition holds exactly those offsets: ListOffsets earliest 0 and latest (the high watermark) N,
// and ListOffsets by timestamp finding record i at offset i. Prints one JSON summary line on stdout and exits 0; on a
// mismatch, an error or a timeout it prints the reason on stderr and exits 1.
//
//   node compat/clients/kafkajs/roundtrip.js --bootstrap HOST:PORT --topic T --count N [--codecs none,gzip]
//        [--timestamp-base MS] [--timeout-seconds S]
//
// Why there is no KafkaJS consumer here: KafkaJS has no group-less consumer (kafka.consumer() always joins a
// consumer group); group.js consumes through a group. This round trip checks what KafkaJS can check without a group
// (the offsets above), and tests/broker/client_roundtrip_test.cc reads the records back with librdkafka and checks
// every key, value, header and timestamp.
//
// KafkaJS compresses with gzip out of the box (zlib); snappy, lz4 and zstd need codec packages that are not installed.
//
// Record i of codec C (shared with the C++ test): key "key-C-i", value "value-C-i-" + "0123456789abcdef" x 8, headers
// index=i, codec=C, client=kafkajs, dup=1, dup=2 (a repeated name: KafkaJS writes an array value as one header per
// element, in order), timestamp (CreateTime) base + i. Records are sent in several batches (send() calls of at most
// `batchSize` records) so the broker sees more than one batch per partition.
'use strict'

const path = require('path')

let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (error) {
  process.stderr.write(
    `kafkajs_roundtrip: cannot load kafkajs (${error.message}); install it: bash scripts/install-compat.sh\n`
  )
  process.exit(3)
}
const { Kafka, CompressionTypes, Partitioners, logLevel } = kafkajs

const CLIENT = 'kafkajs'
const FILLER = '0123456789abcdef'.repeat(8)
const CODECS = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP }
const batchSize = 25

class Failure extends Error {}

function usage(message) {
  process.stderr.write(`kafkajs_roundtrip: ${message}\n`)
  process.stderr.write(
    'usage: node roundtrip.js --bootstrap HOST:PORT --topic T --count N [--codecs none,gzip] ' +
      '[--timestamp-base MS] [--timeout-seconds S]\n'
  )
  process.exit(2)
}

function parseArguments(argv) {
  const args = { codecs: Object.keys(CODECS).join(','), timeoutSeconds: 60, timestampBase: null }
  const names = {
    '--bootstrap': 'bootstrap',
    '--topic': 'topic',
    '--count': 'count',
    '--codecs': 'codecs',
    '--timestamp-base': 'timestampBase',
    '--timeout-seconds': 'timeoutSeconds',
  }
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]]
    if (!name || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`)
    args[name] = argv[i + 1]
  }
  if (!args.bootstrap || !args.topic || !args.count) usage('--bootstrap, --topic and --count are required')
  args.count = Number(args.count)
  args.timeoutSeconds = Number(args.timeoutSeconds)
  args.timestampBase = args.timestampBase === null ? Date.now() : Number(args.timestampBase)
  if (!Number.isInteger(args.count) || args.count <= 0) usage('--count must be a positive integer')
  if (!(args.timeoutSeconds > 0)) usage('--timeout-seconds must be positive')
  if (!Number.isInteger(args.timestampBase)) usage('--timestamp-base must be an integer')
  args.codecs = args.codecs.split(',').filter(c => c)
  for (const codec of args.codecs) if (!(codec in CODECS)) usage(`unknown codec ${codec} (KafkaJS has none and gzip)`)
  return args
}

function expectedRecord(codec, i, timestampBase) {
  return {
    key: `key-${codec}-${i}`,
    value: `value-${codec}-${i}-${FILLER}`,
    headers: { index: String(i), codec, client: CLIENT, dup: ['1', '2'] },
    timestamp: String(timestampBase + i),
  }
}

// KafkaJS logs to stdout by default; the summary owns stdout, so its log goes to stderr.
const stderrLogCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

async function roundtrip(args, codec) {
  const topic = `${args.topic}-${codec}`
  const kafka = new Kafka({
    clientId: 'vltava-compat-kafkajs',
    brokers: [args.bootstrap],
    logLevel: logLevel.WARN,
    logCreator: stderrLogCreator,
    connectionTimeout: 10000,
    requestTimeout: 30000,
  })
  const admin = kafka.admin()
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    // Every message names partition 0; the choice only silences KafkaJS's warning about its v2 default.
    createPartitioner: Partitioners.DefaultPartitioner,
  })
  await admin.connect()
  try {
    await producer.connect()
    try {
      const created = await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true })
      if (!created) throw new Failure(`${topic}: createTopics says the topic already existed`)

      const offsets = []
      for (let first = 0; first < args.count; first += batchSize) {
        const messages = []
        for (let i = first; i < Math.min(args.count, first + batchSize); i++) {
          messages.push({ partition: 0, ...expectedRecord(codec, i, args.timestampBase) })
        }
        const results = await producer.send({ topic, acks: -1, compression: CODECS[codec], messages })
        for (const result of results) {
          if (result.errorCode !== 0) throw new Failure(`${topic}: produce answered error ${result.errorCode}`)
          offsets.push(Number(result.baseOffset))
        }
      }
      const expectedBases = []
      for (let first = 0; first < args.count; first += batchSize) expectedBases.push(first)
      if (JSON.stringify(offsets) !== JSON.stringify(expectedBases)) {
        throw new Failure(`${topic}: batches got base offsets ${offsets}, expected ${expectedBases}`)
      }

      // The admin client's view of the partition: ListOffsets earliest and latest.
      const partitions = await admin.fetchTopicOffsets(topic)
      if (partitions.length !== 1) throw new Failure(`${topic}: ${partitions.length} partitions, expected 1`)
      const { partition, low, high, offset } = partitions[0]
      if (partition !== 0 || low !== '0' || high !== String(args.count) || offset !== String(args.count)) {
        throw new Failure(
          `${topic}: fetchTopicOffsets gave ${JSON.stringify(partitions[0])}, expected low 0 and high ${args.count}`
        )
      }
      // ListOffsets by timestamp: the first record with timestamp >= base + i is record i.
      const probes = [...new Set([0, Math.floor(args.count / 2), args.count - 1])]
      for (const i of probes) {
        const found = await admin.fetchTopicOffsetsByTimestamp(topic, args.timestampBase + i)
        if (found.length !== 1 || found[0].offset !== String(i)) {
          throw new Failure(
            `${topic}: fetchTopicOffsetsByTimestamp(base + ${i}) gave ${JSON.stringify(found)}, expected offset ${i}`
          )
        }
      }
      return topic
    } finally {
      await producer.disconnect()
    }
  } finally {
    await admin.disconnect()
  }
}

async function main() {
  const args = parseArguments(process.argv.slice(2))
  const started = Date.now()
  const timer = setTimeout(() => {
    process.stderr.write(`kafkajs_roundtrip: FAIL: the deadline of ${args.timeoutSeconds} s passed\n`)
    process.exit(1)
  }, args.timeoutSeconds * 1000)
  const topics = []
  try {
    for (const codec of args.codecs) topics.push(await roundtrip(args, codec))
  } catch (error) {
    const reason = error instanceof Failure ? error.message : `${error.name}: ${error.message}\n${error.stack}`
    process.stderr.write(`kafkajs_roundtrip: FAIL: ${reason}\n`)
    process.exit(1)
  }
  clearTimeout(timer)
  const version = require(path.join(path.dirname(require.resolve('kafkajs')), 'package.json')).version
  process.stdout.write(
    JSON.stringify({
      client: CLIENT,
      version,
      node: process.version,
      count: args.count,
      codecs: args.codecs,
      topics,
      timestamp_base: args.timestampBase,
      elapsed_ms: Date.now() - started,
    }) + '\n'
  )
}

main()
