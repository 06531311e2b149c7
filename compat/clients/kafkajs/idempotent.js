#!/usr/bin/env node
// KafkaJS idempotent producer against a Vltava broker (used by compat/run): create --topic with one partition, then a
// producer with idempotent: true (maxInFlightRequests 1, as KafkaJS requires for it; acks=all) sends --count records
// to partition 0 in several send() calls of `batchSize` records, one after the other. Checks:
//  - the producer obtained a producer id: KafkaJS exposes it only in its debug log ("Initialized producer id &
//    epoch", written after the InitProducerId answer); this script's logCreator picks it up, and it must be >= 0;
//  - every send succeeded (error code 0) and its base offset is the index of its first record (consecutive offsets);
//  - admin.fetchTopicOffsets gives low 0 and high --count (nothing was written twice);
//  - read back: KafkaJS has no group-less consumer, so a consumer in a fresh group (--topic + "-readback",
//    fromBeginning, autoCommit off) must receive each record exactly once, in produce order, record i at offset i,
//    with nothing after the last one (it keeps fetching for `settleMs` after the count is reached).
// Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
// and exits 1 (3 when KafkaJS is not installed).
//
//   node compat/clients/kafkajs/idempotent.js --bootstrap HOST:PORT --topic T [--count N] [--timeout-seconds S]
//
// Record i (as in the round trips, with "idempotent" in place of the codec): key "key-idempotent-i", value
// "value-idempotent-i-" + "0123456789abcdef" x 8.
'use strict'

const path = require('path')

let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (error) {
  process.stderr.write(
    `kafkajs_idempotent: cannot load kafkajs (${error.message}); install it: bash scripts/install-compat.sh\n`
  )
  process.exit(3)
}
const { Kafka, Partitioners, logLevel } = kafkajs

const FILLER = '0123456789abcdef'.repeat(8)
const batchSize = 10
const settleMs = 1000

class Failure extends Error {}

function usage(message) {
  process.stderr.write(`kafkajs_idempotent: ${message}\n`)
  process.stderr.write('usage: node idempotent.js --bootstrap HOST:PORT --topic T [--count N] [--timeout-seconds S]\n')
  process.exit(2)
}

function parseArguments(argv) {
  const args = { count: 100, timeoutSeconds: 60 }
  const names = { '--bootstrap': 'bootstrap', '--topic': 'topic', '--count': 'count',
    '--timeout-seconds': 'timeoutSeconds' }
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]]
    if (!name || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`)
    args[name] = argv[i + 1]
  }
  if (!args.bootstrap || !args.topic) usage('--bootstrap and --topic are required')
  args.count = Number(args.count)
  args.timeoutSeconds = Number(args.timeoutSeconds)
  if (!Number.isInteger(args.count) || args.count <= 0) usage('--count must be a positive integer')
  if (!(args.timeoutSeconds > 0)) usage('--timeout-seconds must be positive')
  return args
}

const record = i => ({ key: `key-idempotent-${i}`, value: `value-idempotent-${i}-${FILLER}` })

// Warnings and errors go to stderr (the summary owns stdout); the debug line with the producer id is kept.
const producerIds = []
const logCreator = () => ({ namespace, level, label, log }) => {
  const { message, ...extra } = log
  if (message === 'Initialized producer id & epoch') {
    producerIds.push({ id: extra.producerId, epoch: extra.producerEpoch })
  }
  if (level <= logLevel.WARN) {
    process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
  }
}

async function main() {
  const args = parseArguments(process.argv.slice(2))
  const started = Date.now()
  const deadline = started + args.timeoutSeconds * 1000
  const timer = setTimeout(() => {
    process.stderr.write(`kafkajs_idempotent: FAIL: the deadline of ${args.timeoutSeconds} s passed\n`)
    process.exit(1)
  }, args.timeoutSeconds * 1000)
  const kafka = new Kafka({
    clientId: 'vltava-compat-kafkajs-idempotent', brokers: [args.bootstrap], logLevel: logLevel.DEBUG, logCreator,
    connectionTimeout: 10000, requestTimeout: 30000,
  })
  const topic = args.topic
  const summary = { client: 'kafkajs', version: require(path.join(path.dirname(require.resolve('kafkajs')),
    'package.json')).version, node: process.version, mode: 'idempotent-producer', topic, count: args.count }

  const admin = kafka.admin()
  await admin.connect()
  try {
    if (!(await admin.createTopics({ topics: [{ topic, numPartitions: 1 }], waitForLeaders: true }))) {
      throw new Failure(`${topic}: createTopics says the topic already existed`)
    }

    // ---- produce ----
    const producer = kafka.producer({
      idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    })
    await producer.connect() // sends InitProducerId
    try {
      for (let first = 0; first < args.count; first += batchSize) {
        const messages = []
        for (let i = first; i < Math.min(args.count, first + batchSize); i++) {
          messages.push({ partition: 0, ...record(i) })
        }
        const results = await producer.send({ topic, acks: -1, messages })
        if (results.length !== 1 || results[0].errorCode !== 0 || results[0].baseOffset !== String(first)) {
          throw new Failure(`send of records ${first}..: answered ${JSON.stringify(results)}, expected error code 0 ` +
            `and base offset ${first}`)
        }
      }
    } finally {
      await producer.disconnect()
    }
    if (producerIds.length !== 1 || !(Number(producerIds[0].id) >= 0)) {
      throw new Failure('expected one "Initialized producer id & epoch" log entry with an id >= 0, got ' +
        JSON.stringify(producerIds))
    }
    summary.producer_id = Number(producerIds[0].id)
    summary.producer_epoch = producerIds[0].epoch
    summary.sends = Math.ceil(args.count / batchSize)

    // ---- offsets ----
    const offsets = await admin.fetchTopicOffsets(topic)
    if (offsets.length !== 1 || offsets[0].low !== '0' || offsets[0].high !== String(args.count)) {
      throw new Failure(`fetchTopicOffsets gave ${JSON.stringify(offsets)}, expected low 0 and high ${args.count}`)
    }
  } finally {
    await admin.disconnect()
  }

  // ---- read back through a consumer group ----
  const consumer = kafka.consumer({ groupId: `${topic}-readback`, maxWaitTimeInMs: 200, allowAutoTopicCreation: false })
  const received = []
  let crash = null
  consumer.on(consumer.events.CRASH, ({ payload }) => { crash = crash || payload.error })
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        received.push({ partition, offset: Number(message.offset), key: String(message.key),
          value: String(message.value) })
      },
    })
    let reachedAt = null // when the count was reached; a duplicate would arrive within settleMs of it
    while (reachedAt === null || Date.now() < reachedAt + settleMs) {
      if (crash) throw new Failure(`consumer crashed: ${crash.message}`)
      if (Date.now() > deadline) {
        throw new Failure(`read back: deadline with ${received.length} of ${args.count} records`)
      }
      if (reachedAt === null && received.length >= args.count) reachedAt = Date.now()
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  } finally {
    await consumer.disconnect()
  }
  received.slice(0, args.count).forEach((got, i) => {
    const want = record(i)
    if (got.partition !== 0 || got.offset !== i || got.key !== want.key || got.value !== want.value) {
      throw new Failure(`read back: record ${i} is partition ${got.partition} offset ${got.offset} key ${got.key}, ` +
        `expected partition 0 offset ${i} key ${want.key} (value ${got.value === want.value ? 'matches' : 'differs'})`)
    }
  })
  if (received.length !== args.count) {
    const extra = received[args.count]
    throw new Failure(`read back: ${received.length} records, expected ${args.count}; offset ${extra.offset} holds ` +
      `key ${extra.key} beyond the last record produced`)
  }
  summary.read_back = received.length

  clearTimeout(timer)
  summary.elapsed_ms = Date.now() - started
  process.stdout.write(JSON.stringify(summary) + '\n')
}

main().then(
  () => process.exit(0),
  error => {
    const reason = error instanceof Failure ? error.message : `${error.name}: ${error.message}\n${error.stack}`
    process.stderr.write(`kafkajs_idempotent: FAIL: ${reason}\n`)
    process.exit(1)
  }
)
