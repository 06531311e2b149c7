package main

// The idempotent-producer scenario. Create the topic with one partition, then an AsyncProducer with
// Producer.Idempotent = true (Sarama requires acks=all (WaitForAll), Retry.Max > 0 and Net.MaxOpenRequests = 1 for
// it; the producer's InitProducerId request happens when it starts) produces --count records with the round trip's
// keys and values (codec name "idempotent") to partition 0. All of them are handed to the producer at once, in
// several sends of 50 without waiting in between, so many records are in flight; Flush.Messages = 10 makes Sarama
// cut them into batches of about ten.
//
// Checks: Sarama obtained a producer id (it logs "Obtained a ProducerId: N and ProducerEpoch: E", the only place it
// shows it; the summary reports both); every delivery succeeded and record i was delivered at offset i; a partition
// consumer reading from the beginning gets each record exactly once, in produce order, at consecutive offsets, and
// the high watermark is --count; and Fetch v4, sent directly, shows that every stored batch carries that producer id
// and epoch, with a base sequence equal to its base offset (sequences start at 0 on this fresh partition and are
// consecutive), and that there is more than one batch.

import (
	"fmt"
	"time"

	"github.com/Shopify/sarama"
)

const sendSize = 50

func modeIdempotentProducer(r *run) error {
	if err := checkAPIVersions(r, apiCreateTopics, apiInitProducerID, apiProduce, apiFetch, apiListOffsets); err != nil {
		return err
	}
	admin, client, err := adminClients(r, "idempotent-admin")
	if err != nil {
		return err
	}
	defer client.Close()
	defer admin.Close()
	topic, count := r.args.topic, r.args.count
	if err := createTopic(r, admin, client, topic, 1); err != nil {
		return err
	}

	r.setStage("starting an idempotent producer (InitProducerId)")
	config := newConfig("idempotent")
	config.Producer.Idempotent = true
	config.Net.MaxOpenRequests = 1
	config.Producer.Flush.Messages = 10
	producer, err := sarama.NewAsyncProducer([]string{r.args.bootstrap}, config)
	if err != nil {
		return fmt.Errorf("cannot start an idempotent producer: %v", err)
	}
	producerID, epoch, ok := logBuffer.obtainedProducerID()
	if !ok {
		producer.AsyncClose()
		return fmt.Errorf("Sarama started the idempotent producer without logging an obtained producer id")
	}
	if producerID < 0 || epoch < 0 {
		producer.AsyncClose()
		return fmt.Errorf("InitProducerId gave producer id %d epoch %d", producerID, epoch)
	}
	r.set("producer_id", producerID)
	r.set("producer_epoch", epoch)
	r.set("max_open_requests", config.Net.MaxOpenRequests)

	r.setStage("producing %d records to %s", count, topic)
	offsets := make([]int64, count)
	results := make(chan error, 1)
	go func() {
		delivered := 0
		var firstError error
		for delivered < count {
			select {
			case m, ok := <-producer.Successes():
				if !ok {
					results <- fmt.Errorf("the producer closed after %d of %d acknowledgements", delivered, count)
					return
				}
				i := m.Metadata.(int)
				offsets[i] = m.Offset
				if m.Partition != 0 && firstError == nil {
					firstError = fmt.Errorf("record %d delivered to partition %d", i, m.Partition)
				}
			case e, ok := <-producer.Errors():
				if !ok {
					results <- fmt.Errorf("the producer closed after %d of %d acknowledgements", delivered, count)
					return
				}
				if firstError == nil {
					firstError = fmt.Errorf("record %v not delivered: %v", e.Msg.Metadata, e.Err)
				}
			}
			delivered++
		}
		results <- firstError
	}()
	sends := 0
	for start := 0; start < count; start += sendSize {
		for i := start; i < start+sendSize && i < count; i++ {
			want := expectedRecord("idempotent", i, 0)
			producer.Input() <- &sarama.ProducerMessage{Topic: topic, Partition: 0, Key: sarama.StringEncoder(want.key),
				Value: sarama.StringEncoder(want.value), Metadata: i}
		}
		sends++
	}
	timeout := time.NewTimer(r.left())
	defer timeout.Stop()
	select {
	case err = <-results:
	case <-timeout.C:
		err = fmt.Errorf("deadline: not every record was acknowledged")
	}
	producer.AsyncClose()
	if err != nil {
		return err
	}
	for i, offset := range offsets {
		if offset != int64(i) {
			return fmt.Errorf("record %d was delivered at offset %d, expected %d (produce order)", i, offset, i)
		}
	}
	r.set("sends", sends)
	r.set("count", count)

	if err := consumeExactlyOnce(r, client, topic, count); err != nil {
		return err
	}
	return checkStoredBatches(r, client, topic, count, producerID, epoch)
}

func consumeExactlyOnce(r *run, client sarama.Client, topic string, count int) error {
	return consumeFromStart(r, client, topic, count, func(i int, m *sarama.ConsumerMessage) error {
		want := expectedRecord("idempotent", i, 0)
		if m.Offset != int64(i) || string(m.Key) != want.key || string(m.Value) != want.value {
			return fmt.Errorf("%s: record %d of the partition is %q at offset %d, expected %q at offset %d", topic, i,
				m.Key, m.Offset, want.key, i)
		}
		return nil
	})
}

// checkStoredBatches reads the partition with Fetch v4 and checks each batch's producer id, epoch and base sequence.
func checkStoredBatches(r *run, client sarama.Client, topic string, count int, producerID int64, epoch int16) error {
	r.setStage("fetching the batches of %s", topic)
	leader, err := client.Leader(topic, 0)
	if err != nil {
		return fmt.Errorf("leader of %s/0: %v", topic, err)
	}
	batches := 0
	for offset := int64(0); offset < int64(count); {
		if r.left() == 0 {
			return fmt.Errorf("deadline: fetching the batches of %s at offset %d", topic, offset)
		}
		request := &sarama.FetchRequest{Version: 4, MaxWaitTime: 100, MinBytes: 1, MaxBytes: 1 << 20,
			Isolation: sarama.ReadUncommitted}
		request.AddBlock(topic, 0, offset, 1<<20)
		response, err := leader.Fetch(request)
		if err != nil {
			return fmt.Errorf("Fetch v4 at offset %d: %v", offset, err)
		}
		block := response.GetBlock(topic, 0)
		if block == nil || block.Err != sarama.ErrNoError {
			return fmt.Errorf("Fetch v4 at offset %d: %v", offset, block)
		}
		progressed := false
		for _, records := range block.RecordsSet {
			batch := records.RecordBatch
			if batch == nil {
				return fmt.Errorf("Fetch v4 at offset %d returned a legacy message set, not a record batch", offset)
			}
			if batch.PartialTrailingRecord || batch.FirstOffset+int64(batch.LastOffsetDelta) < offset {
				continue
			}
			if batch.FirstOffset != offset {
				return fmt.Errorf("a batch starts at offset %d, expected %d", batch.FirstOffset, offset)
			}
			if batch.ProducerID != producerID || batch.ProducerEpoch != epoch {
				return fmt.Errorf("the batch at offset %d has producer id %d epoch %d, expected %d epoch %d",
					batch.FirstOffset, batch.ProducerID, batch.ProducerEpoch, producerID, epoch)
			}
			if int64(batch.FirstSequence) != batch.FirstOffset {
				return fmt.Errorf("the batch at offset %d has base sequence %d, expected %d", batch.FirstOffset,
					batch.FirstSequence, batch.FirstOffset)
			}
			if batch.IsTransactional || batch.Control {
				return fmt.Errorf("the batch at offset %d is marked transactional or control", batch.FirstOffset)
			}
			offset = batch.FirstOffset + int64(batch.LastOffsetDelta) + 1
			batches++
			progressed = true
		}
		if !progressed {
			return fmt.Errorf("Fetch v4 at offset %d returned no complete batch (high watermark %d)", offset,
				block.HighWaterMarkOffset)
		}
	}
	if batches < 2 {
		return fmt.Errorf("all %d records are in one batch; the scenario needs several", count)
	}
	r.set("batches", batches)
	return nil
}
