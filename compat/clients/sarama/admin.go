package main

// The admin scenarios, with the checks of compat/clients/kafka_python_admin.py.
//
// topic-create-delete: ClusterAdmin.CreateTopic with --partitions partitions; the topic must then be listed (a
// full-cluster Metadata request: Client.RefreshMetadata() + Client.Topics()) and described
// (ClusterAdmin.DescribeTopics) with that many partitions; creating it again must fail with TOPIC_ALREADY_EXISTS;
// ClusterAdmin.DeleteTopic, and it must disappear from the listing; deleting it again must fail with
// UNKNOWN_TOPIC_OR_PARTITION.
// (ClusterAdmin.ListTopics is not used: Sarama 1.22 follows its Metadata request with DescribeConfigs, which the
// broker does not serve.)
//
// offsets-by-timestamp: create the topic with one partition, produce --count records with CreateTime base + 10*i
// (base an hour ago, acks=all); ListOffsets v1 by timestamp (the request Client.GetOffset sends, sent directly so the
// answer's timestamp can be checked too) must find record i at offset i for base + 10*i, offset i+1 for
// base + 10*i + 5, and no record (offset -1) after the last one; Client.GetOffset earliest/latest must be 0 and N.

import (
	"fmt"
	"time"

	"github.com/Shopify/sarama"
)

func listed(client sarama.Client, topic string) (int, bool, error) {
	if err := client.RefreshMetadata(); err != nil {
		return 0, false, err
	}
	topics, err := client.Topics()
	if err != nil {
		return 0, false, err
	}
	for _, t := range topics {
		if t == topic {
			partitions, err := client.Partitions(topic)
			return len(partitions), true, err
		}
	}
	return 0, false, nil
}

func described(admin sarama.ClusterAdmin, topic string) (int, error) {
	metadata, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return 0, err
	}
	for _, t := range metadata {
		if t.Name == topic {
			if t.Err != sarama.ErrNoError {
				return 0, t.Err
			}
			return len(t.Partitions), nil
		}
	}
	return 0, fmt.Errorf("DescribeTopics did not return %s", topic)
}

// createTopic creates the topic and waits until the listing and DescribeTopics show every partition.
func createTopic(r *run, admin sarama.ClusterAdmin, client sarama.Client, topic string, partitions int) error {
	r.setStage("creating %s", topic)
	err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: int32(partitions), ReplicationFactor: 1}, false)
	if err != nil {
		return fmt.Errorf("CreateTopic %s (%d partitions): %v", topic, partitions, err)
	}
	last := "nothing yet"
	return r.waitFor(func() string { return fmt.Sprintf("%s listed with %d partitions (%s)", topic, partitions, last) },
		func() (bool, error) {
			n, found, err := listed(client, topic)
			if err != nil || !found || n != partitions {
				last = fmt.Sprintf("listed %v with %d partitions, error %v", found, n, err)
				return false, nil
			}
			n, err = described(admin, topic)
			last = fmt.Sprintf("described with %d partitions, error %v", n, err)
			return err == nil && n == partitions, nil
		})
}

func topicError(err error) sarama.KError {
	switch e := err.(type) {
	case *sarama.TopicError:
		return e.Err
	case sarama.KError:
		return e
	}
	return sarama.ErrNoError
}

func adminClients(r *run, name string) (sarama.ClusterAdmin, sarama.Client, error) {
	client, err := newClient(r, name)
	if err != nil {
		return nil, nil, err
	}
	admin, err := sarama.NewClusterAdmin([]string{r.args.bootstrap}, newConfig(name))
	if err != nil {
		client.Close()
		return nil, nil, fmt.Errorf("connect an admin client to %s: %v", r.args.bootstrap, err)
	}
	return admin, client, nil
}

func modeTopicCreateDelete(r *run) error {
	if err := checkAPIVersions(r, apiCreateTopics, apiDeleteTopics); err != nil {
		return err
	}
	admin, client, err := adminClients(r, "admin")
	if err != nil {
		return err
	}
	defer client.Close()
	defer admin.Close()
	topic := r.args.topic
	if err := createTopic(r, admin, client, topic, r.args.partitions); err != nil {
		return err
	}
	r.setStage("creating %s a second time", topic)
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false)
	if err == nil {
		return fmt.Errorf("creating %s a second time succeeded; expected TOPIC_ALREADY_EXISTS", topic)
	}
	if topicError(err) != sarama.ErrTopicAlreadyExists {
		return fmt.Errorf("creating %s a second time failed with %v; expected TOPIC_ALREADY_EXISTS", topic, err)
	}
	r.set("second_create", "TOPIC_ALREADY_EXISTS")

	r.setStage("deleting %s", topic)
	if err := admin.DeleteTopic(topic); err != nil {
		return fmt.Errorf("DeleteTopic %s: %v", topic, err)
	}
	last := ""
	if err := r.waitFor(func() string { return fmt.Sprintf("%s gone from the listing after DeleteTopic%s", topic, last) },
		func() (bool, error) {
			_, found, err := listed(client, topic)
			if err != nil {
				last = fmt.Sprintf(" (last error: %v)", err)
			}
			return err == nil && !found, nil
		}); err != nil {
		return err
	}
	r.setStage("deleting %s a second time", topic)
	err = admin.DeleteTopic(topic)
	if err == nil {
		return fmt.Errorf("deleting %s a second time succeeded; expected UNKNOWN_TOPIC_OR_PARTITION", topic)
	}
	if topicError(err) != sarama.ErrUnknownTopicOrPartition {
		return fmt.Errorf("deleting %s a second time failed with %v; expected UNKNOWN_TOPIC_OR_PARTITION", topic, err)
	}
	r.set("second_delete", "UNKNOWN_TOPIC_OR_PARTITION")
	r.set("partitions", r.args.partitions)
	return nil
}

func modeOffsetsByTimestamp(r *run) error {
	if err := checkAPIVersions(r, apiCreateTopics, apiProduce, apiListOffsets); err != nil {
		return err
	}
	admin, client, err := adminClients(r, "offsets")
	if err != nil {
		return err
	}
	defer client.Close()
	defer admin.Close()
	topic, count := r.args.topic, r.args.count
	if err := createTopic(r, admin, client, topic, 1); err != nil {
		return err
	}

	base := millis(time.Now()) - 3600*1000 // an hour ago: well inside retention, clearly before "now"
	r.setStage("producing to %s", topic)
	producer, err := sarama.NewSyncProducer([]string{r.args.bootstrap}, newConfig("offsets-producer"))
	if err != nil {
		return fmt.Errorf("cannot start a producer: %v", err)
	}
	var messages []*sarama.ProducerMessage
	for i := 0; i < count; i++ {
		messages = append(messages, &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.StringEncoder(fmt.Sprintf("key-%d", i)), Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i)),
			Timestamp: fromMillis(base + 10*int64(i))})
	}
	err = producer.SendMessages(messages)
	producer.Close()
	if err != nil {
		return fmt.Errorf("produce to %s: %v", topic, err)
	}
	offsets := make([]int64, count)
	inOrder := true
	for i, m := range messages {
		offsets[i] = m.Offset
		inOrder = inOrder && m.Partition == 0 && m.Offset == int64(i)
	}
	if !inOrder {
		return fmt.Errorf("produced at offsets %v..., expected 0..%d on partition 0", first64(offsets, 10), count-1)
	}

	r.setStage("ListOffsets by timestamp on %s", topic)
	leader, err := client.Leader(topic, 0)
	if err != nil {
		return fmt.Errorf("leader of %s/0: %v", topic, err)
	}
	lookup := func(timestamp int64) (*sarama.OffsetResponseBlock, error) {
		request := &sarama.OffsetRequest{Version: 1}
		request.AddBlock(topic, 0, timestamp, 1)
		response, err := leader.GetAvailableOffsets(request)
		if err != nil {
			return nil, fmt.Errorf("ListOffsets v1 (timestamp %d): %v", timestamp, err)
		}
		block := response.GetBlock(topic, 0)
		if block == nil {
			return nil, fmt.Errorf("ListOffsets v1 (timestamp %d): no answer for %s/0", timestamp, topic)
		}
		if block.Err != sarama.ErrNoError {
			return nil, fmt.Errorf("ListOffsets v1 (timestamp %d): %v", timestamp, block.Err)
		}
		return block, nil
	}
	checked := 0
	for i := 0; i < count; i++ {
		exact, err := lookup(base + 10*int64(i))
		if err != nil {
			return err
		}
		if exact.Offset != int64(i) || exact.Timestamp != base+10*int64(i) {
			return fmt.Errorf("ListOffsets v1 (base + %d) gave offset %d timestamp %d, expected %d and %d%s",
				10*i, exact.Offset, exact.Timestamp, i, base+10*int64(i), storedMaxTimestamp(leader, topic))
		}
		between, err := lookup(base + 10*int64(i) + 5)
		if err != nil {
			return err
		}
		expected := int64(i + 1)
		if i+1 == count {
			expected = -1
		}
		if between.Offset != expected {
			return fmt.Errorf("ListOffsets(base + %d) gave offset %d, expected %d", 10*i+5, between.Offset, expected)
		}
		checked += 2
	}
	after, err := lookup(base + 10*int64(count) + 1000)
	if err != nil {
		return err
	}
	if after.Offset != -1 {
		return fmt.Errorf("ListOffsets(after the last record) gave offset %d, expected -1 (none)", after.Offset)
	}
	beginning, err := client.GetOffset(topic, 0, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("ListOffsets earliest: %v", err)
	}
	end, err := client.GetOffset(topic, 0, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("ListOffsets latest: %v", err)
	}
	if beginning != 0 || end != int64(count) {
		return fmt.Errorf("earliest/latest offsets are %d/%d, expected 0/%d", beginning, end, count)
	}
	r.set("lookups", checked+1)
	r.set("count", count)
	return nil
}

func first64(list []int64, n int) []int64 {
	if len(list) > n {
		return list[:n]
	}
	return list
}

// storedMaxTimestamp describes the max_timestamp of the partition's first stored batch (Fetch v4), for a failed
// lookup: Sarama 1.22 leaves that batch header field at -1 when it produces, and Kafka's broker replaces it with the
// records' largest timestamp (LogValidator), which the time index and the lookup rely on.
func storedMaxTimestamp(leader *sarama.Broker, topic string) string {
	request := &sarama.FetchRequest{Version: 4, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20}
	request.AddBlock(topic, 0, 0, 1<<20)
	response, err := leader.Fetch(request)
	if err != nil {
		return fmt.Sprintf(" (Fetch v4 of the stored batch failed: %v)", err)
	}
	block := response.GetBlock(topic, 0)
	if block == nil || len(block.RecordsSet) == 0 || block.RecordsSet[0].RecordBatch == nil {
		return " (Fetch v4 returned no record batch at offset 0)"
	}
	batch := block.RecordsSet[0].RecordBatch
	stored := "-1 (unset)"
	if !batch.MaxTimestamp.IsZero() {
		stored = fmt.Sprint(millis(batch.MaxTimestamp))
	}
	var largest int64 = -1
	for _, record := range batch.Records {
		if ts := millis(batch.FirstTimestamp.Add(record.TimestampDelta)); ts > largest {
			largest = ts
		}
	}
	why := ""
	if batch.MaxTimestamp.IsZero() && largest >= 0 {
		why = " (Sarama 1.22 sends -1; Kafka sets it from the records)"
	}
	return fmt.Sprintf("; stored batch %d has max_timestamp %s, records up to %d%s", batch.FirstOffset, stored,
		largest, why)
}
