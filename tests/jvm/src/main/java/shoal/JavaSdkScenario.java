package shoal;

import java.io.FileInputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import javax.net.ssl.TrustManagerFactory;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.http.Protocol;
import software.amazon.awssdk.http.nio.netty.NettyNioAsyncHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.KinesisClient;
import software.amazon.awssdk.services.kinesis.model.*;

/**
 * The Java SDK v2 against the Shoal at SHOAL_ENDPOINT. "sync": the synchronous client
 * with its defaults (CBOR on, Apache HTTP/1.1) through the data plane and the common
 * control-plane operations, errors as typed exceptions. "async": the Netty client over
 * HTTP/2 and TLS (SHOAL_TLS_ENDPOINT, trusting SHOAL_TLS_CERT) through PutRecords,
 * GetRecords and SubscribeToShard. Prints "Java <mode> scenario OK" when every check
 * passed; any failure is an exception and a non-zero exit.
 */
public final class JavaSdkScenario {
  private static final StaticCredentialsProvider CREDENTIALS =
      StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDJAVA", "secret"));

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "sync";
    switch (mode) {
      case "sync" -> sync(System.getenv("SHOAL_ENDPOINT"));
      case "async" -> async(System.getenv("SHOAL_TLS_ENDPOINT"), System.getenv("SHOAL_TLS_CERT"));
      default -> throw new IllegalArgumentException("mode is sync or async, not " + mode);
    }
    System.out.println("Java " + mode + " scenario OK");
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError(what);
    }
  }

  static void sync(String endpoint) {
    try (KinesisClient c =
        KinesisClient.builder()
            .endpointOverride(URI.create(endpoint))
            .region(Region.US_EAST_1)
            .credentialsProvider(CREDENTIALS)
            .build()) {
      String name = "java-sync";
      c.createStream(b -> b.streamName(name).shardCount(2));
      c.waiter().waitUntilStreamExists(b -> b.streamName(name));

      // A missing stream is a typed exception, as on AWS.
      try {
        c.describeStreamSummary(b -> b.streamName("no-such-stream"));
        throw new AssertionError("a missing stream was described");
      } catch (ResourceNotFoundException expected) {
        check(expected.statusCode() == 400, "ResourceNotFoundException is a 400");
      }
      try {
        c.createStream(b -> b.streamName(name).shardCount(1));
        throw new AssertionError("a stream was created twice");
      } catch (ResourceInUseException expected) {
        // As on AWS.
      }

      // Writes (CBOR blobs), then reads back through iterators on every shard.
      PutRecordResponse one =
          c.putRecord(
              b -> b.streamName(name).partitionKey("k0").data(SdkBytes.fromUtf8String("java-0")));
      check(!one.sequenceNumber().isEmpty(), "PutRecord gave a sequence number");
      List<PutRecordsRequestEntry> entries = new ArrayList<>();
      for (int i = 1; i < 20; i++) {
        entries.add(
            PutRecordsRequestEntry.builder()
                .partitionKey("k" + i)
                .data(SdkBytes.fromUtf8String("java-" + i))
                .build());
      }
      PutRecordsResponse many = c.putRecords(b -> b.streamName(name).records(entries));
      check(many.failedRecordCount() == 0, "PutRecords failed none");
      List<Shard> shards = c.listShards(b -> b.streamName(name)).shards();
      check(shards.size() == 2, "two shards");
      Set<String> seen = new HashSet<>();
      Instant before = Instant.now().minusSeconds(3600);
      for (Shard shard : shards) {
        String it =
            c.getShardIterator(
                    b ->
                        b.streamName(name)
                            .shardId(shard.shardId())
                            .shardIteratorType(ShardIteratorType.AT_TIMESTAMP)
                            .timestamp(before))
                .shardIterator();
        while (it != null) {
          String from = it;
          GetRecordsResponse got = c.getRecords(b -> b.shardIterator(from));
          for (software.amazon.awssdk.services.kinesis.model.Record r : got.records()) {
            seen.add(r.data().asUtf8String());
            check(r.approximateArrivalTimestamp().isAfter(before), "arrival timestamps (CBOR)");
            // Sequence numbers parse as the big decimals the KCL compares.
            check(new java.math.BigInteger(r.sequenceNumber()).signum() > 0, "sequence number");
          }
          if (got.records().isEmpty()) {
            break;
          }
          it = got.nextShardIterator();
        }
      }
      check(seen.size() == 20, "read back 20 records, got " + seen.size());
      String seq = one.sequenceNumber();
      String at =
          c.getShardIterator(
                  b ->
                      b.streamName(name)
                          .shardId(one.shardId())
                          .shardIteratorType(ShardIteratorType.AT_SEQUENCE_NUMBER)
                          .startingSequenceNumber(seq))
              .shardIterator();
      check(
          c.getRecords(b -> b.shardIterator(at)).records().get(0).data().asUtf8String().equals("java-0"),
          "AT_SEQUENCE_NUMBER starts at the record");

      // Control plane.
      c.addTagsToStream(b -> b.streamName(name).tags(Map.of("team", "jvm")));
      check(
          c.listTagsForStream(b -> b.streamName(name)).tags().get(0).value().equals("jvm"),
          "tags round-trip");
      c.increaseStreamRetentionPeriod(b -> b.streamName(name).retentionPeriodHours(48));
      StreamDescriptionSummary summary =
          c.describeStreamSummary(b -> b.streamName(name)).streamDescriptionSummary();
      check(summary.retentionPeriodHours() == 48, "retention raised");
      check(summary.streamCreationTimestamp().isAfter(before), "creation timestamp (CBOR)");
      c.updateShardCount(
          b -> b.streamName(name).targetShardCount(4).scalingType(ScalingType.UNIFORM_SCALING));
      c.waiter().waitUntilStreamExists(b -> b.streamName(name));
      List<Shard> open =
          c.listShards(
                  b ->
                      b.streamName(name)
                          .shardFilter(f -> f.type(ShardFilterType.AT_LATEST)))
              .shards();
      check(open.size() == 4, "four open shards after UpdateShardCount, got " + open.size());
      check(c.listStreams().streamNames().contains(name), "ListStreams names it");
      DescribeLimitsResponse limits = c.describeLimits();
      check(limits.openShardCount() >= 4, "DescribeLimits counts open shards");
      c.deleteStream(b -> b.streamName(name));
    }
  }

  static void async(String endpoint, String certPath) throws Exception {
    KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
    trust.load(null, null);
    try (FileInputStream in = new FileInputStream(certPath)) {
      trust.setCertificateEntry(
          "shoal", CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    try (KinesisAsyncClient c =
        KinesisAsyncClient.builder()
            .endpointOverride(URI.create(endpoint))
            .region(Region.US_EAST_1)
            .credentialsProvider(CREDENTIALS)
            .httpClientBuilder(
                NettyNioAsyncHttpClient.builder()
                    .protocol(Protocol.HTTP2)
                    .tlsTrustManagersProvider(tmf::getTrustManagers))
            .build()) {
      String name = "java-async";
      c.createStream(b -> b.streamName(name).shardCount(1)).get(30, TimeUnit.SECONDS);
      c.waiter().waitUntilStreamExists(b -> b.streamName(name)).get(30, TimeUnit.SECONDS);
      String arn =
          c.describeStreamSummary(b -> b.streamName(name))
              .get(30, TimeUnit.SECONDS)
              .streamDescriptionSummary()
              .streamARN();
      String consumerArn =
          c.registerStreamConsumer(b -> b.streamARN(arn).consumerName("java-consumer"))
              .get(30, TimeUnit.SECONDS)
              .consumer()
              .consumerARN();
      while (c.describeStreamConsumer(b -> b.consumerARN(consumerArn))
              .get(30, TimeUnit.SECONDS)
              .consumerDescription()
              .consumerStatus()
          != ConsumerStatus.ACTIVE) {
        Thread.sleep(100);
      }

      // Subscribe from LATEST, then write: the event stream (HTTP/2 over TLS) brings it.
      CountDownLatch arrived = new CountDownLatch(1);
      AtomicReference<Throwable> failed = new AtomicReference<>();
      SubscribeToShardResponseHandler handler =
          SubscribeToShardResponseHandler.builder()
              .onError(failed::set)
              .subscriber(
                  SubscribeToShardResponseHandler.Visitor.builder()
                      .onSubscribeToShardEvent(
                          e -> {
                            for (software.amazon.awssdk.services.kinesis.model.Record r : e.records()) {
                              if (r.data().asUtf8String().equals("pushed")) {
                                arrived.countDown();
                              }
                            }
                          })
                      .build())
              .build();
      CompletableFuture<Void> subscription =
          c.subscribeToShard(
              b ->
                  b.consumerARN(consumerArn)
                      .shardId("shardId-000000000000")
                      .startingPosition(p -> p.type(ShardIteratorType.LATEST)),
              handler);
      Thread.sleep(500);
      PutRecordsResponse put =
          c.putRecords(
                  b ->
                      b.streamName(name)
                          .records(
                              PutRecordsRequestEntry.builder()
                                  .partitionKey("k")
                                  .data(SdkBytes.fromString("pushed", StandardCharsets.UTF_8))
                                  .build()))
              .get(30, TimeUnit.SECONDS);
      check(put.failedRecordCount() == 0, "PutRecords over HTTP/2");
      check(arrived.await(20, TimeUnit.SECONDS), "the event arrived: " + failed.get());
      subscription.cancel(true);

      String it =
          c.getShardIterator(
                  b ->
                      b.streamName(name)
                          .shardId("shardId-000000000000")
                          .shardIteratorType(ShardIteratorType.TRIM_HORIZON))
              .get(30, TimeUnit.SECONDS)
              .shardIterator();
      GetRecordsResponse got = c.getRecords(b -> b.shardIterator(it)).get(30, TimeUnit.SECONDS);
      check(got.records().size() == 1, "GetRecords over HTTP/2");
      c.deleteStream(b -> b.streamName(name).enforceConsumerDeletion(true))
          .get(30, TimeUnit.SECONDS);
    }
    // Let Netty's event loops wind down rather than kill them mid-frame.
    Thread.sleep(Duration.ofMillis(100).toMillis());
  }
}
