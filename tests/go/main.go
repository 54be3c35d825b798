// The Go SDK v2 scenario (github.com/aws/aws-sdk-go-v2/service/kinesis) against the
// Shoal at SHOAL_ENDPOINT: create, put, get through iterators, an error as a typed
// exception, SubscribeToShard through an enhanced fan-out consumer, delete. Run by
// tests/sdk/clients.rs; it prints "Go scenario OK" when every check passed.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func check(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
		os.Exit(1)
	}
}

func must(ok bool, format string, args ...any) {
	if !ok {
		fmt.Fprintf(os.Stderr, format+"\n", args...)
		os.Exit(1)
	}
}

func waitStream(ctx context.Context, c *kinesis.Client, name string) {
	w := kinesis.NewStreamExistsWaiter(c, func(o *kinesis.StreamExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 500 * time.Millisecond
	})
	check(w.Wait(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second), "waiting for ACTIVE")
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	endpoint := os.Getenv("SHOAL_ENDPOINT")
	c := kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDGO", "secret", ""),
	})
	name := "go-scenario"

	_, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(2)})
	check(err, "CreateStream")
	waitStream(ctx, c, name)

	// A missing stream is a typed ResourceNotFoundException.
	_, err = c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("no-such-stream")})
	var notFound *types.ResourceNotFoundException
	must(errors.As(err, &notFound), "missing stream: want ResourceNotFoundException, got %v", err)

	// Writes: one PutRecord, then a PutRecords batch over both shards.
	one, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("k0"), Data: []byte("go-0")})
	check(err, "PutRecord")
	must(len(aws.ToString(one.SequenceNumber)) > 0, "PutRecord gave no sequence number")
	var entries []types.PutRecordsRequestEntry
	for i := 1; i < 20; i++ {
		entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprintf("k%d", i)), Data: []byte(fmt.Sprintf("go-%d", i))})
	}
	many, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(name), Records: entries})
	check(err, "PutRecords")
	must(aws.ToInt32(many.FailedRecordCount) == 0, "PutRecords failed %d records", aws.ToInt32(many.FailedRecordCount))

	// Reads: every shard from TRIM_HORIZON until its iterator has nothing more.
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	check(err, "ListShards")
	must(len(shards.Shards) == 2, "want 2 shards, got %d", len(shards.Shards))
	seen := map[string]bool{}
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		check(err, "GetShardIterator")
		iter := it.ShardIterator
		for iter != nil {
			out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
			check(err, "GetRecords")
			for _, r := range out.Records {
				seen[string(r.Data)] = true
				must(r.ApproximateArrivalTimestamp != nil, "a record without its arrival time")
			}
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	must(len(seen) == 20, "read %d distinct records, want 20", len(seen))

	// SubscribeToShard through a consumer: a record put after subscribing arrives.
	summary, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	check(err, "DescribeStreamSummary")
	reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: summary.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("go-consumer")})
	check(err, "RegisterStreamConsumer")
	for {
		d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
		check(err, "DescribeStreamConsumer")
		if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	first := shards.Shards[0]
	sub, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      reg.Consumer.ConsumerARN,
		ShardId:          first.ShardId,
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeLatest},
	})
	check(err, "SubscribeToShard")
	stream := sub.GetStream()
	defer stream.Close()
	// Aim the record at the subscribed shard by its hash range.
	_, err = c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("x"), ExplicitHashKey: first.HashKeyRange.StartingHashKey, Data: []byte("pushed")})
	check(err, "PutRecord while subscribed")
	got := false
	for ev := range stream.Events() {
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			continue
		}
		for _, r := range e.Value.Records {
			if bytes.Equal(r.Data, []byte("pushed")) {
				got = true
			}
		}
		if got {
			break
		}
	}
	check(stream.Err(), "event stream")
	must(got, "the subscription ended without the pushed record")

	_, err = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
	check(err, "DeleteStream")
	fmt.Println("Go scenario OK")
}
