package main

// The consumer-group and commit-resume scenarios, phase by phase as compat/clients/*_group.* run them. The topic must
// exist with --partitions partitions (compat/run creates it first). One group, members are Sarama ConsumerGroups
// (JoinGroup/SyncGroup with the "range" strategy, Sarama's default; heartbeats every 500 ms), each consuming in its
// own goroutine and marking every record it consumed (MarkMessage). Sarama 1.22 has no synchronous commit: its offset
// manager commits what was marked every Consumer.Offsets.CommitInterval (100 ms here) and when a session ends, so a
// "commit" below marks the records and then waits until OffsetFetch (ClusterAdmin.ListConsumerGroupOffsets) returns
// exactly the marked offsets for every partition the member consumed.
//
//  1. Members A and B join. Once their latest assignments (ConsumerGroupHandler.Setup) are disjoint and cover every
//     partition, --count records are produced; together A and B must consume every one exactly once (counted by key),
//     each only from its own partitions, without a rebalance in between. Both commit.
//  2. A closes (its session ends, then LeaveGroup). B must be assigned every partition; --count more records are
//     produced and B must consume exactly those (it resumes A's partitions from A's committed offsets). B commits
//     and closes.
//  3. --resume-count records are produced; a new member C must resume from the committed offsets: it receives exactly
//     those records, nothing earlier (a partition is read in offset order, so an earlier record would come first).
//     C commits and closes.
//
// Record i of phase p has key "p<p>-<i>", value "value-p<p>-<i>" and goes to partition i % partitions.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type consumed struct {
	phase, index int
	partition    int32
	offset       int64
}

// member is one ConsumerGroup and what it saw: its assignments and the records it consumed.
type member struct {
	name   string
	r      *run
	group  sarama.ConsumerGroup
	cancel context.CancelFunc
	done   chan struct{}

	mu          sync.Mutex
	assignment  map[int32]bool // the current session's partitions; empty between sessions
	assignments [][]int32      // every session's partitions, in order
	records     []consumed
	marked      map[int32]int64 // the next offset to commit, per partition, as marked
	violation   error           // the first record that broke the rules
}

func startMember(r *run, name string) (*member, error) {
	r.setStage("starting consumer %s", name)
	config := newConfig("group-" + name)
	config.Consumer.Group.Session.Timeout = time.Duration(r.args.sessionTimeoutMs) * time.Millisecond
	config.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	config.Consumer.Group.Rebalance.Timeout = 20 * time.Second
	config.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	group, err := sarama.NewConsumerGroup([]string{r.args.bootstrap}, r.args.group, config)
	if err != nil {
		return nil, fmt.Errorf("consumer %s: cannot join %s: %v", name, r.args.group, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, r: r, group: group, cancel: cancel, done: make(chan struct{}),
		assignment: map[int32]bool{}, marked: map[int32]int64{}}
	go func() {
		for e := range group.Errors() {
			r.clientError("%s: %v", name, e)
		}
	}()
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			// One call is one session (one generation); it returns at a rebalance, and the member joins again.
			if err := group.Consume(ctx, []string{r.args.topic}, m); err != nil {
				if err == sarama.ErrClosedConsumerGroup {
					return
				}
				r.clientError("%s: Consume: %v", name, err)
				time.Sleep(100 * time.Millisecond)
			}
		}
	}()
	return m, nil
}

// Setup, Cleanup and ConsumeClaim make member a sarama.ConsumerGroupHandler.
func (m *member) Setup(session sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assignment = map[int32]bool{}
	for _, p := range session.Claims()[m.r.args.topic] {
		m.assignment[p] = true
	}
	m.assignments = append(m.assignments, partitionList(m.assignment))
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.assignment = map[int32]bool{}
	return nil
}

func (m *member) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for message := range claim.Messages() {
		m.take(message)
		session.MarkMessage(message, "")
	}
	return nil
}

func (m *member) take(message *sarama.ConsumerMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := string(message.Key)
	var phase, index int
	parts := strings.SplitN(strings.TrimPrefix(key, "p"), "-", 2)
	if len(parts) == 2 {
		phase, _ = strconv.Atoi(parts[0])
		index, _ = strconv.Atoi(parts[1])
	}
	switch {
	case m.violation != nil:
	case len(parts) != 2 || phase == 0 || string(message.Value) != "value-"+key:
		m.violation = fmt.Errorf("consumer %s got an unexpected record at partition %d offset %d: key %q value %q",
			m.name, message.Partition, message.Offset, key, message.Value)
	case !m.assignment[message.Partition]:
		m.violation = fmt.Errorf("consumer %s got %s from partition %d, assigned %v", m.name, key, message.Partition,
			partitionList(m.assignment))
	}
	m.records = append(m.records, consumed{phase, index, message.Partition, message.Offset})
	m.marked[message.Partition] = message.Offset + 1
}

func (m *member) current() map[int32]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	copied := map[int32]bool{}
	for p := range m.assignment {
		copied[p] = true
	}
	return copied
}

func (m *member) history() [][]int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([][]int32(nil), m.assignments...)
}

func (m *member) count(phase int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, rec := range m.records {
		if rec.phase == phase {
			n++
		}
	}
	return n
}

func (m *member) check() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.violation
}

// commit waits until the group's committed offsets are the ones this member marked.
func (m *member) commit(admin sarama.ClusterAdmin) error {
	m.mu.Lock()
	want := map[int32]int64{}
	var partitions []int32
	for p, offset := range m.marked {
		want[p] = offset
		partitions = append(partitions, p)
	}
	m.mu.Unlock()
	if len(partitions) == 0 {
		return nil
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	m.r.setStage("waiting for consumer %s's commit", m.name)
	last := ""
	return m.r.waitFor(func() string {
		return fmt.Sprintf("consumer %s: committed offsets are %s, expected %v", m.name, last, want)
	}, func() (bool, error) {
		if err := m.check(); err != nil {
			return false, err
		}
		response, err := admin.ListConsumerGroupOffsets(m.r.args.group, map[string][]int32{m.r.args.topic: partitions})
		if err != nil {
			last = "unknown (OffsetFetch: " + err.Error() + ")"
			return false, nil
		}
		got := map[int32]int64{}
		for _, p := range partitions {
			block := response.GetBlock(m.r.args.topic, p)
			if block == nil || block.Err != sarama.ErrNoError {
				last = fmt.Sprintf("partition %d: %v", p, block)
				return false, nil
			}
			got[p] = block.Offset
		}
		last = fmt.Sprint(got)
		for p, offset := range want {
			if got[p] != offset {
				return false, nil
			}
		}
		return true, nil
	})
}

// close ends the member's session (its offset manager commits what is marked), then leaves the group.
func (m *member) close() {
	if m.group == nil {
		return
	}
	m.cancel()
	select {
	case <-m.done:
	case <-time.After(m.r.left()):
	}
	if err := m.group.Close(); err != nil {
		m.r.clientError("%s: Close: %v", m.name, err)
	}
	m.group = nil
}

func settled(members []*member, partitions int) bool {
	union := map[int32]bool{}
	for _, m := range members {
		assigned := m.current()
		if len(assigned) == 0 {
			return false
		}
		for p := range assigned {
			if union[p] {
				return false
			}
			union[p] = true
		}
	}
	return len(union) == partitions
}

func produceGroupPhase(r *run, phase, total int) error {
	r.setStage("producing phase %d", phase)
	producer, err := sarama.NewSyncProducer([]string{r.args.bootstrap}, newConfig("group-producer"))
	if err != nil {
		return fmt.Errorf("phase %d: cannot start a producer: %v", phase, err)
	}
	defer producer.Close()
	var messages []*sarama.ProducerMessage
	for i := 0; i < total; i++ {
		key := fmt.Sprintf("p%d-%d", phase, i)
		messages = append(messages, &sarama.ProducerMessage{Topic: r.args.topic, Partition: int32(i % r.args.partitions),
			Key: sarama.StringEncoder(key), Value: sarama.StringEncoder("value-" + key)})
	}
	if err := producer.SendMessages(messages); err != nil {
		if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
			return fmt.Errorf("phase %d: %d records undelivered, first error: %v", phase, len(errs), errs[0].Err)
		}
		return fmt.Errorf("phase %d: produce failed: %v", phase, err)
	}
	return nil
}

func checkExactlyOnce(members []*member, phase, total int) error {
	seen := map[int]int{}
	for _, m := range members {
		m.mu.Lock()
		for _, rec := range m.records {
			if rec.phase == phase {
				seen[rec.index]++
			}
		}
		m.mu.Unlock()
	}
	var duplicates, missing []string
	for i := 0; i < total; i++ {
		if seen[i] > 1 {
			duplicates = append(duplicates, fmt.Sprintf("p%d-%d", phase, i))
		}
		if seen[i] == 0 {
			missing = append(missing, fmt.Sprintf("p%d-%d", phase, i))
		}
	}
	if len(duplicates) > 0 {
		return fmt.Errorf("phase %d: consumed more than once: %v", phase, first(duplicates, 5))
	}
	if len(missing) > 0 || len(seen) != total {
		return fmt.Errorf("phase %d: consumed %d distinct records, expected %d; missing %v", phase, len(seen), total,
			first(missing, 5))
	}
	return nil
}

func first(list []string, n int) []string {
	if len(list) > n {
		return list[:n]
	}
	return list
}

// pollUntil waits for cond, failing at once when a member broke a rule.
func pollUntil(r *run, members []*member, cond func() bool, what func() string) error {
	return r.waitFor(what, func() (bool, error) {
		for _, m := range members {
			if err := m.check(); err != nil {
				return false, err
			}
		}
		return cond(), nil
	})
}

func modeGroup(r *run) error {
	if err := checkAPIVersions(r, apiProduce, apiFetch, apiListOffsets, apiFindCoordinator, apiJoinGroup,
		apiSyncGroup, apiHeartbeat, apiLeaveGroup, apiOffsetCommit, apiOffsetFetch); err != nil {
		return err
	}
	args := r.args
	client, err := newClient(r, "group-admin")
	if err != nil {
		return err
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdmin([]string{args.bootstrap}, newConfig("group-admin"))
	if err != nil {
		return fmt.Errorf("connect an admin client to %s: %v", args.bootstrap, err)
	}
	defer admin.Close()
	r.setStage("reading the partitions of %s", args.topic)
	if err := r.waitFor(func() string { return fmt.Sprintf("%s has %d partitions", args.topic, args.partitions) },
		func() (bool, error) {
			if err := client.RefreshMetadata(args.topic); err != nil {
				return false, nil
			}
			partitions, err := client.Partitions(args.topic)
			return err == nil && len(partitions) == args.partitions, nil
		}); err != nil {
		return err
	}
	r.set("group", args.group)
	r.set("partitions", args.partitions)
	r.set("count", args.count)
	r.set("resume_count", args.resumeCount)

	var members []*member
	defer func() {
		for _, m := range members {
			m.close()
		}
	}()

	// ---- phase 1: two members split the partitions ----
	a, err := startMember(r, "a")
	if err != nil {
		return err
	}
	members = append(members, a)
	b, err := startMember(r, "b")
	if err != nil {
		return err
	}
	members = append(members, b)
	r.setStage("phase 1: waiting for a and b to split the partitions")
	if err := pollUntil(r, members, func() bool { return settled([]*member{a, b}, args.partitions) }, func() string {
		return fmt.Sprintf("no settled assignment: a %v, b %v", a.history(), b.history())
	}); err != nil {
		return err
	}
	assignedA, assignedB := a.current(), b.current()
	generationsA, generationsB := len(a.history()), len(b.history())
	if err := produceGroupPhase(r, 1, args.count); err != nil {
		return err
	}
	r.setStage("phase 1: consuming")
	if err := pollUntil(r, members, func() bool { return a.count(1)+b.count(1) >= args.count }, func() string {
		return fmt.Sprintf("phase 1: a and b consumed %d of %d", a.count(1)+b.count(1), args.count)
	}); err != nil {
		return err
	}
	if len(a.history()) != generationsA || len(b.history()) != generationsB {
		return fmt.Errorf("phase 1: a rebalance happened while consuming: a %v, b %v", a.history(), b.history())
	}
	if err := checkExactlyOnce([]*member{a, b}, 1, args.count); err != nil {
		return err
	}
	if err := a.commit(admin); err != nil {
		return err
	}
	if err := b.commit(admin); err != nil {
		return err
	}
	r.set("phase1", map[string]interface{}{
		"a": map[string]interface{}{"assigned": partitionList(assignedA), "records": a.count(1)},
		"b": map[string]interface{}{"assigned": partitionList(assignedB), "records": b.count(1)}})

	// ---- phase 2: A leaves, B takes over every partition ----
	r.setStage("phase 2: closing a")
	a.close()
	phase1B := b.count(1)
	r.setStage("phase 2: waiting for b to be assigned every partition")
	if err := pollUntil(r, members, func() bool { return settled([]*member{b}, args.partitions) }, func() string {
		return fmt.Sprintf("b was not assigned every partition after a left: %v", b.history())
	}); err != nil {
		return err
	}
	if err := produceGroupPhase(r, 2, args.count); err != nil {
		return err
	}
	r.setStage("phase 2: consuming")
	if err := pollUntil(r, members, func() bool { return b.count(2) >= args.count }, func() string {
		return fmt.Sprintf("phase 2: b consumed %d of %d", b.count(2), args.count)
	}); err != nil {
		return err
	}
	if err := checkExactlyOnce([]*member{b}, 2, args.count); err != nil {
		return err
	}
	if b.count(1) != phase1B {
		return fmt.Errorf("phase 2: b consumed phase-1 records again after the rebalance")
	}
	if err := b.commit(admin); err != nil {
		return err
	}
	history := b.history()
	b.close()
	r.set("phase2", map[string]interface{}{"b_assigned": history[len(history)-1], "records": b.count(2)})

	// ---- phase 3: a new member resumes from the committed offsets ----
	if err := produceGroupPhase(r, 3, args.resumeCount); err != nil {
		return fmt.Errorf("phase 3: %v", err)
	}
	c, err := startMember(r, "c")
	if err != nil {
		return fmt.Errorf("phase 3: %v", err)
	}
	members = append(members, c)
	r.setStage("phase 3: consuming")
	total := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.records)
	}
	if err := pollUntil(r, []*member{c}, func() bool { return total() >= args.resumeCount }, func() string {
		return fmt.Sprintf("phase 3: c consumed %d of %d", total(), args.resumeCount)
	}); err != nil {
		return fmt.Errorf("phase 3: %v", err)
	}
	c.mu.Lock()
	var earlier []string
	for _, rec := range c.records {
		if rec.phase != 3 {
			earlier = append(earlier, fmt.Sprintf("p%d-%d", rec.phase, rec.index))
		}
	}
	c.mu.Unlock()
	if len(earlier) > 0 {
		return fmt.Errorf("phase 3: c did not resume from the committed offsets, it received %v", first(earlier, 5))
	}
	if err := checkExactlyOnce([]*member{c}, 3, args.resumeCount); err != nil {
		return err
	}
	if err := c.commit(admin); err != nil {
		return fmt.Errorf("phase 3: %v", err)
	}
	assignedC := c.current()
	c.close()
	r.set("phase3", map[string]interface{}{"c_assigned": partitionList(assignedC), "records": c.count(3)})
	if len(assignedC) != args.partitions {
		return fmt.Errorf("phase 3: c was assigned %v", c.history())
	}
	return nil
}
