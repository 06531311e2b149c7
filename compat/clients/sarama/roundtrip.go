package main

// The produce-consume scenario. For every codec, produce --count records with keys, values, headers and timestamps to
// partition 0 of "<topic>-<codec>" (acks=all, a SyncProducer, 25 records per SendMessages call so the broker gets
// several batches), then consume them back with a partition consumer (ConsumePartition from OffsetOldest: no group,
// no commits) and check every offset, key, value, header and timestamp, and the high watermark.
//
// Record i of codec C (as the other round-trip scripts and tests/broker/client_roundtrip_test.cc write it): key
// "key-C-i", value "value-C-i-" + "0123456789abcdef" x 8, headers index=i, codec=C, client=sarama, dup=1, dup=2 (a
// repeated name, order kept), timestamp (CreateTime) --timestamp-base + i.
//
// zstd: Sarama 1.22 sends zstd batches in Produce v3, the version it uses for every Config.Version. Kafka accepts
// zstd only from Produce v7 on and answers older versions with UNSUPPORTED_COMPRESSION_TYPE (Sarama 1.23 and later
// use Produce v7 for zstd). So does Vltava: the run checks that the broker refuses the batch with exactly that error
// and stores nothing, and reports zstd under "skipped_codecs" with the reason. A broker that accepted it would fail
// the run (it would differ from Kafka).

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/Shopify/sarama"
)

var codecNames = []string{"none", "gzip", "snappy", "lz4", "zstd"}

var codecs = map[string]sarama.CompressionCodec{
	"none":   sarama.CompressionNone,
	"gzip":   sarama.CompressionGZIP,
	"snappy": sarama.CompressionSnappy,
	"lz4":    sarama.CompressionLZ4,
	"zstd":   sarama.CompressionZSTD,
}

const batchSize = 25

type record struct {
	key, value string
	headers    []sarama.RecordHeader
	timestamp  int64
}

func expectedRecord(codec string, i int, base int64) record {
	headers := [][2]string{{"index", fmt.Sprint(i)}, {"codec", codec}, {"client", "sarama"}, {"dup", "1"},
		{"dup", "2"}}
	rec := record{key: fmt.Sprintf("key-%s-%d", codec, i), value: fmt.Sprintf("value-%s-%d-%s", codec, i, filler),
		timestamp: base + int64(i)}
	for _, h := range headers {
		rec.headers = append(rec.headers, sarama.RecordHeader{Key: []byte(h[0]), Value: []byte(h[1])})
	}
	return rec
}

func formatHeaders(headers []sarama.RecordHeader) string {
	parts := make([]string, len(headers))
	for i, h := range headers {
		parts[i] = fmt.Sprintf("%s=%q", h.Key, h.Value)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func modeRoundtrip(r *run) error {
	var wanted []string
	for _, c := range strings.Split(r.args.codecs, ",") {
		if c == "" {
			continue
		}
		if _, ok := codecs[c]; !ok {
			return fmt.Errorf("unknown codec %q (Sarama has %s)", c, strings.Join(codecNames, ","))
		}
		wanted = append(wanted, c)
	}
	if err := checkAPIVersions(r, apiProduce, apiFetch, apiListOffsets); err != nil {
		return err
	}
	client, err := newClient(r, "roundtrip")
	if err != nil {
		return err
	}
	defer client.Close()

	var passed, topics []string
	skipped := map[string]string{}
	for _, codec := range wanted {
		topic := fmt.Sprintf("%s-%s", r.args.topic, codec)
		err := produceRecords(r, topic, codec)
		if codec == "zstd" {
			if err = expectZstdRefused(r, client, topic, err); err != nil {
				return err
			}
			skipped[codec] = "Sarama 1.22 sends zstd in Produce v3; the broker refused it with " +
				"UNSUPPORTED_COMPRESSION_TYPE, as Kafka does below Produce v7 (Sarama 1.23+ uses v7)"
			continue
		}
		if err != nil {
			return err
		}
		if err := consumeAndCheck(r, client, topic, codec); err != nil {
			return err
		}
		passed = append(passed, codec)
		topics = append(topics, topic)
	}
	r.set("count", r.args.count)
	r.set("codecs", passed)
	r.set("topics", topics)
	if len(skipped) > 0 {
		r.set("skipped_codecs", skipped)
	}
	return nil
}

// produceRecords sends the codec's records to partition 0 of topic and checks that record i landed at offset i.
func produceRecords(r *run, topic, codec string) error {
	r.setStage("producing to %s (codec %s)", topic, codec)
	config := newConfig("roundtrip-" + codec)
	config.Producer.Compression = codecs[codec]
	producer, err := sarama.NewSyncProducer([]string{r.args.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("%s: cannot start a producer: %v", topic, err)
	}
	defer producer.Close()
	for start := 0; start < r.args.count; start += batchSize {
		var messages []*sarama.ProducerMessage
		for i := start; i < start+batchSize && i < r.args.count; i++ {
			want := expectedRecord(codec, i, r.args.timestampBase)
			messages = append(messages, &sarama.ProducerMessage{Topic: topic, Partition: 0,
				Key: sarama.StringEncoder(want.key), Value: sarama.StringEncoder(want.value), Headers: want.headers,
				Timestamp: fromMillis(want.timestamp), Metadata: i})
		}
		if err := producer.SendMessages(messages); err != nil {
			if errs, ok := err.(sarama.ProducerErrors); ok && len(errs) > 0 {
				return producerError{topic: topic, failed: len(errs), first: errs[0].Err}
			}
			return fmt.Errorf("%s: produce failed: %v", topic, err)
		}
		for _, m := range messages {
			if m.Partition != 0 || m.Offset != int64(m.Metadata.(int)) {
				return fmt.Errorf("%s: record %d delivered to partition %d offset %d, expected partition 0 offset %d",
					topic, m.Metadata.(int), m.Partition, m.Offset, m.Metadata.(int))
			}
		}
	}
	return nil
}

type producerError struct {
	topic  string
	failed int
	first  error
}

func (e producerError) Error() string {
	return fmt.Sprintf("%s: %d records not delivered, first error: %v", e.topic, e.failed, e.first)
}

func expectZstdRefused(r *run, client sarama.Client, topic string, err error) error {
	if err == nil {
		return fmt.Errorf("%s: the broker accepted zstd in Produce v3 (Kafka refuses it below v7 with "+
			"UNSUPPORTED_COMPRESSION_TYPE)", topic)
	}
	refused, ok := err.(producerError)
	if !ok || refused.first != sarama.ErrUnsupportedCompressionType {
		return fmt.Errorf("zstd in Produce v3: expected UNSUPPORTED_COMPRESSION_TYPE, got: %v", err)
	}
	r.setStage("checking that %s is empty", topic)
	newest, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("%s: ListOffsets latest: %v", topic, err)
	}
	if newest != 0 {
		return fmt.Errorf("%s: the broker refused the zstd records but its latest offset is %d, expected 0", topic,
			newest)
	}
	return nil
}

func consumeAndCheck(r *run, client sarama.Client, topic, codec string) error {
	return consumeFromStart(r, client, topic, r.args.count, func(i int, m *sarama.ConsumerMessage) error {
		want := expectedRecord(codec, i, r.args.timestampBase)
		where := fmt.Sprintf("%s record %d", topic, i)
		if m.Offset != int64(i) {
			return fmt.Errorf("%s: offset %d, expected %d", where, m.Offset, i)
		}
		if string(m.Key) != want.key {
			return fmt.Errorf("%s: key %q, expected %q", where, m.Key, want.key)
		}
		if string(m.Value) != want.value {
			return fmt.Errorf("%s: value %q, expected %q", where, m.Value, want.value)
		}
		got := make([]sarama.RecordHeader, len(m.Headers))
		for j, h := range m.Headers {
			got[j] = *h
		}
		same := len(got) == len(want.headers)
		for j := 0; same && j < len(got); j++ {
			same = bytes.Equal(got[j].Key, want.headers[j].Key) && bytes.Equal(got[j].Value, want.headers[j].Value)
		}
		if !same {
			return fmt.Errorf("%s: headers %s, expected %s", where, formatHeaders(got), formatHeaders(want.headers))
		}
		if millis(m.Timestamp) != want.timestamp {
			return fmt.Errorf("%s: timestamp %d, expected %d", where, millis(m.Timestamp), want.timestamp)
		}
		return nil
	})
}

// consumeFromStart reads count records of partition 0 of topic from its oldest offset, before the run's deadline,
// hands each to check (i counts from 0), and then requires the partition's high watermark to be count: a record
// stored twice would leave it higher.
func consumeFromStart(r *run, client sarama.Client, topic string, count int,
	check func(i int, m *sarama.ConsumerMessage) error) error {
	r.setStage("consuming %s", topic)
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("%s: cannot start a consumer: %v", topic, err)
	}
	defer consumer.Close()
	partition, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("%s: ConsumePartition(0, oldest): %v", topic, err)
	}
	defer partition.Close()
	timeout := time.NewTimer(r.left())
	defer timeout.Stop()
	for i := 0; i < count; i++ {
		var m *sarama.ConsumerMessage
		select {
		case m = <-partition.Messages():
		case e := <-partition.Errors():
			return fmt.Errorf("%s: consumer error: %v", topic, e)
		case <-timeout.C:
			return fmt.Errorf("deadline: %s: consumed %d of %d records", topic, i, count)
		}
		if err := check(i, m); err != nil {
			return err
		}
	}
	if hwm := partition.HighWaterMarkOffset(); hwm != int64(count) {
		return fmt.Errorf("%s: high watermark %d after consuming, expected %d (records stored more than once?)", topic,
			hwm, count)
	}
	return nil
}
