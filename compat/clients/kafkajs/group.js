#!/usr/bin/env node
// KafkaJS consumer-group scenarios against a Vltava broker. The topic must exist with --partitions partitions
// (tests/broker/client_group_test.cc creates it). Three phases, one group, KafkaJS consumers (RoundRobinAssigner) with
// autoCommit off and explicit commitOffsets() of what each consumed:
//
//  1. Two consumers (A and B) in this process subscribe. Once their assignments (the memberAssignment of each one's
//     latest GROUP_JOIN event) are disjoint and cover every partition, --count records are produced; together A and B
//     must consume every one exactly once (counted by key), each only from its own partitions. Both commit.
//  2. A disconnects (LeaveGroup). B must rejoin with every partition; --count more records are produced and B must
//     consume exactly those (it resumes A's partitions from A's committed offsets). B commits and disconnects.
//  3. --resume-count records are produced; a new consumer C in the same group must resume from the committed offsets:
//     it receives exactly those records, nothing earlier (a partition is read in offset order, so an earlier record
//     would come first). C commits and disconnects.
//
// Prints one JSON summary line on stdout and exits 0; on a failure or at the deadline it prints the reason on stderr
// and exits 1. --debug sets KafkaJS's log level to DEBUG (on stderr).
//
//   node compat/clients/kafkajs/group.js --bootstrap HOST:PORT --topic T --group G [--partitions 4] [--count N]
//        [--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S] [--debug 1]
//
// Record i of phase p has key "p<p>-<i>", value "value-p<p>-<i>" and is produced to partition i % partitions, so every
// phase reaches every partition. KafkaJS 2.2.4 uses, for each API, the lower of its own and the broker's highest
// version (FindCoordinator, JoinGroup, SyncGroup, Heartbeat, OffsetCommit, OffsetFetch, LeaveGroup).
'use strict'

const path = require('path')

let kafkajs
try {
  kafkajs = require('kafkajs')
} catch (error) {
  process.stderr.write(`kafkajs_group: cannot load kafkajs (${error.message}); install it: bash scripts/install-compat.sh\n`)
  process.exit(3)
}
const { Kafka, Partitioners, logLevel } = kafkajs

class Failure extends Error {}

function usage(message) {
  process.stderr.write(`kafkajs_group: ${message}\n`)
  process.stderr.write(
    'usage: node group.js --bootstrap HOST:PORT --topic T --group G [--partitions P] [--count N] ' +
      '[--resume-count M] [--session-timeout-ms MS] [--timeout-seconds S] [--debug 1]\n'
  )
  process.exit(2)
}

function parseArguments(argv) {
  const args = { partitions: 4, count: 40, resumeCount: 20, sessionTimeoutMs: 6000, timeoutSeconds: 60, debug: '0' }
  const names = {
    '--bootstrap': 'bootstrap',
    '--topic': 'topic',
    '--group': 'group',
    '--partitions': 'partitions',
    '--count': 'count',
    '--resume-count': 'resumeCount',
    '--session-timeout-ms': 'sessionTimeoutMs',
    '--timeout-seconds': 'timeoutSeconds',
    '--debug': 'debug',
  }
  for (let i = 0; i < argv.length; i += 2) {
    const name = names[argv[i]]
    if (!name || i + 1 >= argv.length) usage(`bad argument ${argv[i]}`)
    args[name] = argv[i + 1]
  }
  if (!args.bootstrap || !args.topic || !args.group) usage('--bootstrap, --topic and --group are required')
  for (const name of ['partitions', 'count', 'resumeCount', 'sessionTimeoutMs', 'timeoutSeconds']) {
    args[name] = Number(args[name])
    if (!Number.isInteger(args[name]) || args[name] <= 0) usage(`${name} must be a positive integer`)
  }
  args.debug = args.debug !== '0'
  return args
}

// KafkaJS logs to stdout by default; the summary owns stdout, so its log goes to stderr.
const stderrLogCreator = () => ({ namespace, label, log }) => {
  const { message, ...extra } = log
  process.stderr.write(`kafkajs ${label} [${namespace}] ${message} ${JSON.stringify(extra)}\n`)
}

const args = parseArguments(process.argv.slice(2))
const allPartitions = Array.from({ length: args.partitions }, (_, p) => p)
const kafka = new Kafka({
  clientId: 'vltava-compat-kafkajs-group',
  brokers: [args.bootstrap],
  logLevel: args.debug ? logLevel.DEBUG : logLevel.WARN,
  logCreator: stderrLogCreator,
  connectionTimeout: 10000,
  requestTimeout: 30000,
})

class Member {
  constructor(name) {
    this.name = name
    this.assignment = null // partitions of the latest GROUP_JOIN (null before the first)
    this.assignments = [] // every GROUP_JOIN's partitions, in order
    this.records = [] // { phase, index, partition, offset }
    this.error = null
    this.consumer = kafka.consumer({
      groupId: args.group,
      sessionTimeout: args.sessionTimeoutMs,
      rebalanceTimeout: 20000,
      heartbeatInterval: 500,
      // KafkaJS heartbeats between fetches: a short fetch wait lets it notice a rebalance quickly.
      maxWaitTimeInMs: 200,
      allowAutoTopicCreation: false,
    })
    const { GROUP_JOIN, CRASH } = this.consumer.events
    this.consumer.on(GROUP_JOIN, ({ payload }) => {
      const partitions = [...(payload.memberAssignment[args.topic] || [])].sort((x, y) => x - y)
      this.assignment = new Set(partitions)
      this.assignments.push(partitions)
    })
    this.consumer.on(CRASH, ({ payload }) => {
      this.error = this.error || new Failure(`consumer ${name} crashed: ${payload.error && payload.error.stack}`)
    })
  }

  async start() {
    await this.consumer.connect()
    await this.consumer.subscribe({ topics: [args.topic], fromBeginning: true })
    await this.consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const key = message.key.toString()
        if (!this.assignment || !this.assignment.has(partition)) {
          this.error = this.error || new Failure(`consumer ${this.name} got ${key} from partition ${partition}, ` +
            `assigned ${JSON.stringify(this.assignments)}`)
        }
        const [phase, index] = key.slice(1).split('-').map(Number)
        this.records.push({ phase, index, partition, offset: Number(message.offset) })
      },
    })
  }

  check() {
    if (this.error) throw this.error
  }

  count(phase) {
    return this.records.filter(r => r.phase === phase).length
  }

  current() {
    return this.assignment ? [...this.assignment].sort((x, y) => x - y) : []
  }

  // Commits, per partition it consumed from, the offset after the last record it consumed.
  async commit() {
    const next = new Map()
    for (const r of this.records) next.set(r.partition, Math.max(next.get(r.partition) || 0, r.offset + 1))
    const offsets = [...next].map(([partition, offset]) => ({ topic: args.topic, partition, offset: String(offset) }))
    await this.consumer.commitOffsets(offsets)
    this.check()
  }

  async close() {
    await this.consumer.disconnect()
  }
}

const deadline = Date.now() + args.timeoutSeconds * 1000

async function waitUntil(members, condition, what) {
  while (!condition()) {
    for (const member of members) member.check()
    if (Date.now() > deadline) throw new Failure(`deadline: ${what()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  for (const member of members) member.check()
}

function settled(members) {
  const union = new Set()
  for (const member of members) {
    if (!member.assignment || member.assignment.size === 0) return false
    for (const p of member.assignment) {
      if (union.has(p)) return false
      union.add(p)
    }
  }
  return union.size === args.partitions && allPartitions.every(p => union.has(p))
}

async function produce(phase, total) {
  const producer = kafka.producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  try {
    const messages = []
    for (let i = 0; i < total; i++) {
      messages.push({ key: `p${phase}-${i}`, value: `value-p${phase}-${i}`, partition: i % args.partitions })
    }
    const results = await producer.send({ topic: args.topic, acks: -1, messages })
    for (const result of results) {
      if (result.errorCode !== 0) throw new Failure(`phase ${phase}: produce answered error ${result.errorCode}`)
    }
  } finally {
    await producer.disconnect()
  }
}

function checkExactlyOnce(members, phase, total) {
  const seen = new Map()
  for (const member of members) {
    for (const r of member.records) if (r.phase === phase) seen.set(r.index, (seen.get(r.index) || 0) + 1)
  }
  const duplicates = [...seen].filter(([, n]) => n > 1).map(([i]) => `p${phase}-${i}`)
  if (duplicates.length) throw new Failure(`phase ${phase}: consumed more than once: ${duplicates.slice(0, 5)}`)
  const missing = []
  for (let i = 0; i < total; i++) if (!seen.has(i)) missing.push(`p${phase}-${i}`)
  if (missing.length || seen.size !== total) {
    throw new Failure(`phase ${phase}: consumed ${seen.size} records, expected ${total}; missing ${missing.slice(0, 5)}`)
  }
}

async function main() {
  const started = Date.now()
  const version = require(path.join(path.dirname(require.resolve('kafkajs')), 'package.json')).version
  const summary = {
    client: 'kafkajs',
    version,
    node: process.version,
    group: args.group,
    topic: args.topic,
    partitions: args.partitions,
    count: args.count,
    resume_count: args.resumeCount,
  }

  // ---- phase 1: two members split the partitions ----
  const a = new Member('a')
  const b = new Member('b')
  await Promise.all([a.start(), b.start()])
  await waitUntil([a, b], () => settled([a, b]),
    () => `no settled assignment: a ${JSON.stringify(a.assignments)}, b ${JSON.stringify(b.assignments)}`)
  const assignedA = a.current()
  const assignedB = b.current()
  await produce(1, args.count)
  await waitUntil([a, b], () => a.count(1) + b.count(1) >= args.count,
    () => `phase 1: a and b consumed ${a.count(1) + b.count(1)} of ${args.count}`)
  if (String(a.current()) !== String(assignedA) || String(b.current()) !== String(assignedB)) {
    throw new Failure(`phase 1: a rebalance happened while consuming: a ${JSON.stringify(a.assignments)}, ` +
      `b ${JSON.stringify(b.assignments)}`)
  }
  checkExactlyOnce([a, b], 1, args.count)
  await a.commit()
  await b.commit()
  summary.phase1 = { a: { assigned: assignedA, records: a.count(1) }, b: { assigned: assignedB, records: b.count(1) } }

  // ---- phase 2: A leaves, B takes over every partition ----
  await a.close()
  await waitUntil([b], () => settled([b]),
    () => `b was not assigned every partition after a left: ${JSON.stringify(b.assignments)}`)
  await produce(2, args.count)
  await waitUntil([b], () => b.count(2) >= args.count, () => `phase 2: b consumed ${b.count(2)} of ${args.count}`)
  checkExactlyOnce([b], 2, args.count)
  if (b.count(1) !== summary.phase1.b.records) throw new Failure('phase 2: b consumed phase-1 records again')
  await b.commit()
  summary.phase2 = { b_assigned: b.current(), records: b.count(2) }
  await b.close()

  // ---- phase 3: a new member resumes from the committed offsets ----
  await produce(3, args.resumeCount)
  const c = new Member('c')
  await c.start()
  await waitUntil([c], () => c.records.length >= args.resumeCount,
    () => `phase 3: c consumed ${c.records.length} of ${args.resumeCount}`)
  const earlier = c.records.filter(r => r.phase !== 3).map(r => `p${r.phase}-${r.index}`)
  if (earlier.length) {
    throw new Failure(`phase 3: c did not resume from the committed offsets, it received ${earlier.slice(0, 5)}`)
  }
  checkExactlyOnce([c], 3, args.resumeCount)
  await c.commit()
  summary.phase3 = { c_assigned: c.current(), records: c.count(3) }
  await c.close()
  if (String(summary.phase3.c_assigned) !== String(allPartitions)) {
    throw new Failure(`phase 3: c was assigned ${JSON.stringify(c.assignments)}`)
  }

  summary.elapsed_ms = Date.now() - started
  process.stdout.write(JSON.stringify(summary) + '\n')
}

const timer = setTimeout(() => {
  process.stderr.write(`kafkajs_group: FAIL: the deadline of ${args.timeoutSeconds} s passed\n`)
  process.exit(1)
}, args.timeoutSeconds * 1000 + 5000)

main().then(
  () => {
    clearTimeout(timer)
    process.exit(0)
  },
  error => {
    const reason = error instanceof Failure ? error.message : `${error.name}: ${error.message}\n${error.stack}`
    process.stderr.write(`kafkajs_group: FAIL: ${reason}\n`)
    process.exit(1)
  }
)
