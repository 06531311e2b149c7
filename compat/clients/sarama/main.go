// Command vltava-compat-sarama runs the compatibility suite's scenarios with Sarama (github.com/Shopify/sarama, as
// Debian's golang-github-shopify-sarama-dev 1.22.1 ships it) against a Vltava broker. compat/run runs it;
// scripts/install-compat.sh builds it into build/compat/go/ (GOPATH mode, offline, from /usr/share/gocode).
//
//	vltava-compat-sarama roundtrip --bootstrap HOST:PORT --topic T --count N [--codecs none,gzip,snappy,lz4,zstd]
//	    [--timestamp-base MS] [--timeout-seconds S]
//	vltava-compat-sarama group --bootstrap HOST:PORT --topic T --group G [--partitions 4] [--count 40]
//	    [--resume-count 20] [--session-timeout-ms 6000] [--timeout-seconds S]
//	vltava-compat-sarama admin topic-create-delete --bootstrap HOST:PORT --topic T [--partitions 3] [--timeout-seconds S]
//	vltava-compat-sarama admin offsets-by-timestamp --bootstrap HOST:PORT --topic T [--count 20] [--timeout-seconds S]
//	vltava-compat-sarama idempotent-producer --bootstrap HOST:PORT --topic T [--count 200] [--timeout-seconds S]
//
// Each mode does what the suite's other clients do for the same scenario (docs/compatibility.md): roundtrip.go,
// group.go, admin.go and idempotent.go describe the checks. Every run prints one JSON summary line on stdout and exits
// 0; on a failure, or at the deadline (--timeout-seconds, enforced here even while a Sarama call blocks), it prints
// Sarama's last log lines and then a line "sarama MODE: FAIL: reason" on stderr and exits 1 (2 on bad usage).
//
// Sarama speaks the API versions of the Kafka release named in Config.Version; it does not negotiate them with
// ApiVersions. Sarama 1.22 with Config.Version 1.0.0 (the lowest it can use against Vltava: CreateTopics v2 needs 1.0,
// Fetch v4 needs 0.11) sends Produce v3, Fetch v4, ListOffsets v1, Metadata v5, OffsetCommit v1, OffsetFetch v1,
// FindCoordinator v0, JoinGroup v1, SyncGroup v0, Heartbeat v0, LeaveGroup v0, CreateTopics v2, DeleteTopics v1 and
// InitProducerId v0 (later Config.Versions up to 2.2.0 change none of these in 1.22). Every mode first asks the
// broker for its ApiVersions and fails, naming the API, if one of the versions it is about to use is not served.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

// saramaVersion is the Sarama release this program was built against: Sarama 1.22 has no version constant, so
// scripts/install-compat.sh passes the Debian package's version (-ldflags "-X main.saramaVersion=...").
var saramaVersion = "unknown"

// kafkaVersion is the Config.Version every Sarama client here is given (see the package comment).
var kafkaVersion = sarama.V1_0_0_0

var filler = strings.Repeat("0123456789abcdef", 8)

// apiUse is one request type at the version Sarama 1.22 sends it with Config.Version 1.0.0.
type apiUse struct {
	name    string
	key     int16
	version int16
}

var (
	apiProduce         = apiUse{"Produce", 0, 3}
	apiFetch           = apiUse{"Fetch", 1, 4}
	apiListOffsets     = apiUse{"ListOffsets", 2, 1}
	apiMetadata        = apiUse{"Metadata", 3, 5}
	apiOffsetCommit    = apiUse{"OffsetCommit", 8, 1}
	apiOffsetFetch     = apiUse{"OffsetFetch", 9, 1}
	apiFindCoordinator = apiUse{"FindCoordinator", 10, 0}
	apiJoinGroup       = apiUse{"JoinGroup", 11, 1}
	apiHeartbeat       = apiUse{"Heartbeat", 12, 0}
	apiLeaveGroup      = apiUse{"LeaveGroup", 13, 0}
	apiSyncGroup       = apiUse{"SyncGroup", 14, 0}
	apiCreateTopics    = apiUse{"CreateTopics", 19, 2}
	apiDeleteTopics    = apiUse{"DeleteTopics", 20, 1}
	apiInitProducerID  = apiUse{"InitProducerId", 22, 0}
)

type arguments struct {
	mode             string
	bootstrap        string
	topic            string
	group            string
	count            int
	resumeCount      int
	partitions       int
	sessionTimeoutMs int
	codecs           string
	timestampBase    int64
	timeoutSeconds   float64
}

// run is one scenario run: its arguments, deadline, current stage (named at the deadline), the client errors Sarama
// reported on its error channels, and the summary printed at the end.
type run struct {
	args     arguments
	started  time.Time
	deadline time.Time

	mu      sync.Mutex
	stage   string
	errors  []string
	summary map[string]interface{}
}

func (r *run) setStage(format string, a ...interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stage = fmt.Sprintf(format, a...)
}

func (r *run) currentStage() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stage
}

func (r *run) clientError(format string, a ...interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errors) < 50 {
		r.errors = append(r.errors, fmt.Sprintf(format, a...))
	}
}

func (r *run) set(key string, value interface{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary[key] = value
}

// left is the time to the deadline (never negative).
func (r *run) left() time.Duration {
	if d := time.Until(r.deadline); d > 0 {
		return d
	}
	return 0
}

// waitFor polls cond every 20 ms until it holds; an error from cond ends the wait at once. At the deadline it fails
// with "deadline: " + what().
func (r *run) waitFor(what func() string, cond func() (bool, error)) error {
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(r.deadline) {
			return fmt.Errorf("deadline: %s", what())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// saramaLog keeps Sarama's last log lines (printed on a failure) and the producer id Sarama logs when an idempotent
// producer starts, the only place Sarama 1.22 makes it visible.
type saramaLog struct {
	mu         sync.Mutex
	lines      []string
	producerID int64
	epoch      int16
	sawID      bool
}

var obtainedID = regexp.MustCompile(`Obtained a ProducerId: (-?\d+) and ProducerEpoch: (-?\d+)`)

func (l *saramaLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		if m := obtainedID.FindStringSubmatch(line); m != nil {
			id, _ := strconv.ParseInt(m[1], 10, 64)
			epoch, _ := strconv.ParseInt(m[2], 10, 16)
			l.producerID, l.epoch, l.sawID = id, int16(epoch), true
		}
		l.lines = append(l.lines, line)
	}
	if len(l.lines) > 40 {
		l.lines = append([]string(nil), l.lines[len(l.lines)-40:]...)
	}
	return len(p), nil
}

func (l *saramaLog) tail(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) > n {
		return append([]string(nil), l.lines[len(l.lines)-n:]...)
	}
	return append([]string(nil), l.lines...)
}

func (l *saramaLog) obtainedProducerID() (int64, int16, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.producerID, l.epoch, l.sawID
}

var logBuffer = &saramaLog{}

// newConfig is the configuration every client here starts from.
func newConfig(name string) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = kafkaVersion
	c.ClientID = "vltava-compat-sarama-" + name
	c.Net.DialTimeout = 5 * time.Second
	c.Metadata.Retry.Max = 10
	c.Metadata.Retry.Backoff = 250 * time.Millisecond
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Return.Successes = true
	c.Producer.Return.Errors = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Retry.Max = 5
	c.Producer.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Timeout = 10 * time.Second
	c.Consumer.Return.Errors = true
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	return c
}

func newClient(r *run, name string) (sarama.Client, error) {
	r.setStage("connecting a client to %s", r.args.bootstrap)
	client, err := sarama.NewClient([]string{r.args.bootstrap}, newConfig(name))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %v", r.args.bootstrap, err)
	}
	return client, nil
}

// checkAPIVersions asks the broker which versions it serves (ApiVersions v0) and fails when one of uses is not among
// them; the summary's "api_versions" lists the versions this run's requests use.
func checkAPIVersions(r *run, uses ...apiUse) error {
	r.setStage("ApiVersions request to %s", r.args.bootstrap)
	broker := sarama.NewBroker(r.args.bootstrap)
	if err := broker.Open(newConfig("api-versions")); err != nil {
		return fmt.Errorf("connect to %s: %v", r.args.bootstrap, err)
	}
	defer broker.Close()
	response, err := broker.ApiVersions(&sarama.ApiVersionsRequest{})
	if err != nil {
		return fmt.Errorf("ApiVersions v0 to %s: %v", r.args.bootstrap, err)
	}
	if response.Err != sarama.ErrNoError {
		return fmt.Errorf("ApiVersions v0 to %s answered %v", r.args.bootstrap, response.Err)
	}
	served := map[int16][2]int16{}
	for _, block := range response.ApiVersions {
		served[block.ApiKey] = [2]int16{block.MinVersion, block.MaxVersion}
	}
	used := map[string]int16{}
	for _, use := range append([]apiUse{apiMetadata}, uses...) {
		versions, ok := served[use.key]
		if !ok {
			return fmt.Errorf("the broker does not serve %s (API key %d); Sarama %s sends it at version %d",
				use.name, use.key, saramaVersion, use.version)
		}
		if use.version < versions[0] || use.version > versions[1] {
			return fmt.Errorf("the broker serves %s (API key %d) at versions %d-%d; Sarama %s with Config.Version %s "+
				"sends version %d", use.name, use.key, versions[0], versions[1], saramaVersion, kafkaVersion, use.version)
		}
		used[use.name] = use.version
	}
	r.set("api_versions", used)
	return nil
}

func partitionList(set map[int32]bool) []int32 {
	list := make([]int32, 0, len(set))
	for p := range set {
		list = append(list, p)
	}
	sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
	return list
}

func millis(t time.Time) int64 {
	return t.UnixNano() / int64(time.Millisecond)
}

func fromMillis(ms int64) time.Time {
	return time.Unix(0, ms*int64(time.Millisecond))
}

var modes = map[string]func(*run) error{
	"roundtrip":                  modeRoundtrip,
	"group":                      modeGroup,
	"admin topic-create-delete":  modeTopicCreateDelete,
	"admin offsets-by-timestamp": modeOffsetsByTimestamp,
	"idempotent-producer":        modeIdempotentProducer,
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: vltava-compat-sarama roundtrip|group|admin topic-create-delete|"+
		"admin offsets-by-timestamp|idempotent-producer --bootstrap HOST:PORT --topic T [options]; -h after the mode "+
		"lists them")
}

func main() {
	os.Exit(realMain())
}

func realMain() int {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		return 2
	}
	mode, rest := os.Args[1], os.Args[2:]
	if mode == "admin" && len(rest) > 0 {
		mode, rest = "admin "+rest[0], rest[1:]
	}
	body, ok := modes[mode]
	if !ok {
		fmt.Fprintf(os.Stderr, "vltava-compat-sarama: unknown mode %q\n", mode)
		usage(os.Stderr)
		return 2
	}
	args := arguments{mode: mode}
	flags := flag.NewFlagSet("vltava-compat-sarama "+mode, flag.ContinueOnError)
	flags.StringVar(&args.bootstrap, "bootstrap", "", "HOST:PORT of the broker")
	flags.StringVar(&args.topic, "topic", "", "topic (roundtrip: prefix of one topic per codec)")
	flags.StringVar(&args.group, "group", "", "consumer group (group)")
	flags.IntVar(&args.count, "count", 0, "records (default: roundtrip 100, group 40, offsets-by-timestamp 20, "+
		"idempotent-producer 200)")
	flags.IntVar(&args.resumeCount, "resume-count", 20, "records of phase 3 (group)")
	flags.IntVar(&args.partitions, "partitions", 0, "partitions (default: group 4, topic-create-delete 3)")
	flags.IntVar(&args.sessionTimeoutMs, "session-timeout-ms", 6000, "group session timeout (group)")
	flags.StringVar(&args.codecs, "codecs", strings.Join(codecNames, ","), "codecs (roundtrip)")
	flags.Int64Var(&args.timestampBase, "timestamp-base", 0, "CreateTime of record 0, ms (roundtrip; default now)")
	flags.Float64Var(&args.timeoutSeconds, "timeout-seconds", 60, "deadline of the whole run")
	if err := flags.Parse(rest); err != nil {
		return 2
	}
	defaults := map[string][2]int{"roundtrip": {100, 1}, "group": {40, 4}, "admin topic-create-delete": {20, 3},
		"admin offsets-by-timestamp": {20, 1}, "idempotent-producer": {200, 1}}[mode]
	if args.count == 0 {
		args.count = defaults[0]
	}
	if args.partitions == 0 {
		args.partitions = defaults[1]
	}
	if args.timestampBase == 0 {
		args.timestampBase = millis(time.Now())
	}
	problem := ""
	switch {
	case flags.NArg() != 0:
		problem = "unexpected arguments " + strings.Join(flags.Args(), " ")
	case args.bootstrap == "" || args.topic == "":
		problem = "--bootstrap and --topic are required"
	case mode == "group" && args.group == "":
		problem = "--group is required"
	case args.count <= 0 || args.partitions <= 0 || args.resumeCount <= 0 || args.timeoutSeconds <= 0:
		problem = "--count, --partitions, --resume-count and --timeout-seconds must be positive"
	}
	if problem != "" {
		fmt.Fprintf(os.Stderr, "vltava-compat-sarama %s: %s\n", mode, problem)
		return 2
	}

	sarama.Logger = log.New(logBuffer, "", log.Ltime|log.Lmicroseconds)
	r := &run{args: args, started: time.Now(), stage: "starting"}
	r.deadline = r.started.Add(time.Duration(args.timeoutSeconds * float64(time.Second)))
	r.summary = map[string]interface{}{"client": "sarama", "sarama": saramaVersion, "go": runtime.Version(),
		"kafka_version": kafkaVersion.String(), "mode": mode, "topic": args.topic,
		"version": fmt.Sprintf("Sarama %s (Config.Version %s, %s)", saramaVersion, kafkaVersion, runtime.Version())}

	done := make(chan error, 1)
	go func() { done <- body(r) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Until(r.deadline) + 2*time.Second): // the modes' own waits fail first when they can
		err = fmt.Errorf("deadline (%g s) while %s", args.timeoutSeconds, r.currentStage())
	}
	if err != nil {
		for _, line := range logBuffer.tail(15) {
			fmt.Fprintf(os.Stderr, "sarama log: %s\n", line)
		}
		r.mu.Lock()
		for _, e := range r.errors {
			fmt.Fprintf(os.Stderr, "sarama %s: client error: %s\n", mode, e)
		}
		r.mu.Unlock()
		fmt.Fprintf(os.Stderr, "sarama %s: FAIL: %v\n", mode, err)
		return 1
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.summary["client_errors"] = append([]string{}, r.errors...)
	r.summary["elapsed_ms"] = time.Since(r.started).Milliseconds()
	var out bytes.Buffer
	encoder := json.NewEncoder(&out)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(r.summary); err != nil {
		fmt.Fprintf(os.Stderr, "sarama %s: FAIL: cannot encode the summary: %v\n", mode, err)
		return 1
	}
	os.Stdout.Write(out.Bytes())
	return 0
}
