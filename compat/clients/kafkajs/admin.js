#!/usr/bin/env node
// KafkaJS topic create/delete against a Vltava broker (used by compat/run): admin.createTopics T with --partitions
// partitions (waitForLeaders) must return true; listTopics must then show T and fetchTopicMetadata --partitions
// partitions; createTopics again must return false (the topic already exists); deleteTopics, after which listTopics
// must no longer show T; deleteTopics again must fail with UNKNOWN_TOPIC_OR_PARTITION. Prints one JSON summary line
// on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr and exits 1 (3 when KafkaJS
// is not installed).
//
//   node compat/clients/kafkajs/admin.js topic-create-delete --bootstrap HOST:PORT --topic T [--partitions 3]
//        [--timeout-seconds S]
'use strict'

let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (error) {
  process.stderr.write(`kafkajs_admin: cannot load kafkajs (${error.message}); install it: bash scripts/install-compat.sh\n`)
  process.exit(3)
}
const { Kafka, logLevel } = kafkajs

class Failure extends Error {}

function parseArguments(argv) {
  const args = { mode: argv[0], partitions: 3, timeoutSeconds: 60 }
  const names = { '--bootstrap': 'bootstrap', '--topic': 'topic', '--partitions': 'partitions',
    '--timeout-seconds': 'timeoutSeconds' }
  for (let i = 1; i < argv.length; i += 2) {
    const name = names[argv[i]]
    if (!name || i + 1 >= argv.length) {
      process.stderr.write(`kafkajs_admin: bad argument ${argv[i]}\n`)
      process.exit(2)
    }
    args[name] = argv[i + 1]
  }
  if (args.mode !== 'topic-create-delete' || !args.bootstrap || !args.topic) {
    process.stderr.write('usage: node admin.js topic-create-delete --bootstrap HOST:PORT --topic T [--partitions P] ' +
      '[--timeout-seconds S]\n')
    process.exit(2)
  }
  args.partitions = Number(args.partitions)
  args.timeoutSeconds = Number(args.timeoutSeconds)
  return args
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

async function waitUntil(deadline, what, predicate) {
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Failure(`deadline: ${what}`)
    await sleep(200)
  }
}

async function main() {
  const args = parseArguments(process.argv.slice(2))
  const started = Date.now()
  const deadline = started + args.timeoutSeconds * 1000
  const timer = setTimeout(() => {
    process.stderr.write(`kafkajs_admin: FAIL: deadline of ${args.timeoutSeconds} s reached\n`)
    process.exit(1)
  }, args.timeoutSeconds * 1000)
  const kafka = new Kafka({
    clientId: 'compat-kafkajs-admin', brokers: [args.bootstrap], logLevel: logLevel.NOTHING,
    retry: { retries: 3, initialRetryTime: 200 }, connectionTimeout: 3000,
  })
  const admin = kafka.admin()
  const summary = { client: 'kafkajs', version: require('kafkajs/package.json').version, mode: args.mode,
    topic: args.topic, partitions: args.partitions }
  try {
    await admin.connect()
    const topic = args.topic
    if (!(await admin.createTopics({ topics: [{ topic, numPartitions: args.partitions }], waitForLeaders: true }))) {
      throw new Failure(`createTopics ${topic} returned false on the first create`)
    }
    await waitUntil(deadline, `${topic} in listTopics`, async () => (await admin.listTopics()).includes(topic))
    const metadata = await admin.fetchTopicMetadata({ topics: [topic] })
    const partitions = metadata.topics[0].partitions.length
    if (partitions !== args.partitions) throw new Failure(`${topic} has ${partitions} partitions, expected ${args.partitions}`)
    if (await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] })) {
      throw new Failure(`createTopics ${topic} a second time returned true; expected false (already exists)`)
    }
    await admin.deleteTopics({ topics: [topic], timeout: 10000 })
    await waitUntil(deadline, `${topic} gone from listTopics`, async () => !(await admin.listTopics()).includes(topic))
    try {
      await admin.deleteTopics({ topics: [topic], timeout: 10000 })
      throw new Failure(`deleteTopics ${topic} a second time succeeded; expected UNKNOWN_TOPIC_OR_PARTITION`)
    } catch (error) {
      if (error instanceof Failure) throw error
      const type = (error.type || (error.originalError && error.originalError.type) ||
        (error.errors && error.errors[0] && error.errors[0].type) || '')
      if (!/UNKNOWN_TOPIC_OR_PARTITION|does not host this topic-partition/.test(type + ' ' + error.message)) throw error
      summary.second_delete = 'UNKNOWN_TOPIC_OR_PARTITION'
    }
  } finally {
    await admin.disconnect().catch(() => {})
  }
  clearTimeout(timer)
  summary.elapsed_ms = Date.now() - started
  process.stdout.write(JSON.stringify(summary) + '\n')
}

main().catch(error => {
  process.stderr.write(`kafkajs_admin: FAIL: ${error instanceof Failure ? error.message : `${error.name}: ${error.message}`}\n`)
  process.exit(1)
})
