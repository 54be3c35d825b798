package shoal;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.SdkBytes;
import software.amazon.awssdk.core.retry.backoff.FixedDelayBackoffStrategy;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.cloudwatch.CloudWatchAsyncClient;
import software.amazon.awssdk.services.dynamodb.DynamoDbAsyncClient;
import software.amazon.awssdk.services.dynamodb.model.AttributeDefinition;
import software.amazon.awssdk.services.dynamodb.model.BillingMode;
import software.amazon.awssdk.services.dynamodb.model.GlobalSecondaryIndex;
import software.amazon.awssdk.services.dynamodb.model.KeySchemaElement;
import software.amazon.awssdk.services.dynamodb.model.KeyType;
import software.amazon.awssdk.services.dynamodb.model.ProjectionType;
import software.amazon.awssdk.services.dynamodb.model.ProvisionedThroughput;
import software.amazon.awssdk.services.dynamodb.model.ScalarAttributeType;
import software.amazon.awssdk.services.kinesis.KinesisAsyncClient;
import software.amazon.awssdk.services.kinesis.model.PutRecordsRequestEntry;
import software.amazon.kinesis.common.ConfigsBuilder;
import software.amazon.kinesis.common.KinesisClientUtil;
import software.amazon.kinesis.common.InitialPositionInStream;
import software.amazon.kinesis.common.InitialPositionInStreamExtended;
import software.amazon.kinesis.coordinator.Scheduler;
import software.amazon.kinesis.lifecycle.events.InitializationInput;
import software.amazon.kinesis.lifecycle.events.LeaseLostInput;
import software.amazon.kinesis.lifecycle.events.ProcessRecordsInput;
import software.amazon.kinesis.lifecycle.events.ShardEndedInput;
import software.amazon.kinesis.lifecycle.events.ShutdownRequestedInput;
import software.amazon.kinesis.metrics.MetricsLevel;
import software.amazon.kinesis.processor.ShardRecordProcessor;
import software.amazon.kinesis.processor.SingleStreamTracker;
import software.amazon.kinesis.retrieval.KinesisClientRecord;
import software.amazon.kinesis.retrieval.polling.PollingConfig;

/**
 * A KCL 3 application consuming a Shoal stream (SHOAL_ENDPOINT) with its leases in a
 * DynamoDB emulator (SHOAL_DYNAMODB_ENDPOINT) and CloudWatch metrics off. "polling":
 * GetRecords retrieval; "fanout": enhanced fan-out (a registered consumer and
 * SubscribeToShard over HTTP/2); "reshard": polling while shard 0 is split and its upper
 * child merged with shard 1; "workers": a worker stops half-way and two new ones resume
 * from its checkpoints and share the shards. Every produced record must be processed,
 * in order per partition key; "kpl": consume, deaggregating, what shoal.KplProducer put.
 * Prints "KCL <mode> scenario OK".
 */
public final class KclScenario {
  static final StaticCredentialsProvider CREDENTIALS =
      StaticCredentialsProvider.create(AwsBasicCredentials.create("AKIDKCL", "secret"));
  static final int KEYS = 8;
  static final int PER_KEY = 40;

  /** What every processor saw, by partition key, in arrival order. */
  static final Map<String, List<String>> SEEN = new ConcurrentHashMap<>();

  /** How many records each worker processed. */
  static final Map<String, AtomicInteger> BY_WORKER = new ConcurrentHashMap<>();

  public static void main(String[] args) throws Exception {
    String mode = args.length > 0 ? args[0] : "polling";
    String stream = "kcl-" + mode;
    // As the KCL's documentation builds it: Netty over HTTP/2 (h2c to an http:// endpoint).
    KinesisAsyncClient kinesis =
        KinesisClientUtil.createKinesisAsyncClient(
            KinesisAsyncClient.builder()
                .endpointOverride(URI.create(System.getenv("SHOAL_ENDPOINT")))
                .region(Region.US_EAST_1)
                .credentialsProvider(CREDENTIALS));
    DynamoDbAsyncClient dynamo =
        DynamoDbAsyncClient.builder()
            .endpointOverride(URI.create(System.getenv("SHOAL_DYNAMODB_ENDPOINT")))
            .region(Region.US_EAST_1)
            .credentialsProvider(CREDENTIALS)
            .build();
    // Never called with metrics off; an endpoint nobody serves makes sure of it.
    CloudWatchAsyncClient cloudwatch =
        CloudWatchAsyncClient.builder()
            .endpointOverride(URI.create("http://127.0.0.1:9"))
            .region(Region.US_EAST_1)
            .credentialsProvider(CREDENTIALS)
            .build();

    // In "kpl" mode the KPL (shoal.KplProducer, its own JVM: its protobuf is not the
    // KCL's) has created the stream and put every record, aggregated, before this runs.
    boolean kpl = mode.equals("kpl");
    if (!kpl) {
      int shards = mode.equals("workers") ? 4 : 2;
      kinesis.createStream(b -> b.streamName(stream).shardCount(shards)).get(30, TimeUnit.SECONDS);
      waitActive(kinesis, stream);
      produce(kinesis, stream, 0, PER_KEY / 2);
    }

    String app = "app-" + mode;
    createLeaseTable(dynamo, app);
    if (mode.equals("workers")) {
      restartAndShare(kinesis, dynamo, cloudwatch, stream, app);
      return;
    }
    Scheduler worker =
        start(scheduler(kinesis, dynamo, cloudwatch, stream, app, !mode.equals("fanout"), "worker"));
    // The rest arrives while the worker runs.
    Thread.sleep(2000);
    if (mode.equals("reshard")) {
      reshardWhileProducing(kinesis, stream);
    } else if (kpl) {
      log("consuming what the KPL put");
    } else {
      produce(kinesis, stream, PER_KEY / 2, PER_KEY);
    }

    awaitProcessed(KEYS * PER_KEY);
    worker.startGracefulShutdown().get(60, TimeUnit.SECONDS);
    log("shut down");
    if (kpl) {
      // The KPL sends several PutRecords at once and does not promise their order.
      checkAllOnce();
    } else {
      checkAllInOrder();
    }
    System.out.println("KCL " + mode + " scenario OK");
    System.exit(0);
  }

  /**
   * A worker processes the first half and stops (checkpointing as it goes); the second
   * half is produced; two new workers of the same application start together. They must
   * resume from the checkpoints (nothing processed twice, nothing lost) and share the
   * four shards.
   */
  static void restartAndShare(
      KinesisAsyncClient kinesis,
      DynamoDbAsyncClient dynamo,
      CloudWatchAsyncClient cloudwatch,
      String stream,
      String app)
      throws Exception {
    Scheduler first = start(scheduler(kinesis, dynamo, cloudwatch, stream, app, true, "first"));
    awaitProcessed(KEYS * PER_KEY / 2);
    first.startGracefulShutdown().get(60, TimeUnit.SECONDS);
    log("first worker stopped");
    produce(kinesis, stream, PER_KEY / 2, PER_KEY);
    Scheduler b = start(scheduler(kinesis, dynamo, cloudwatch, stream, app, true, "second"));
    Scheduler c = start(scheduler(kinesis, dynamo, cloudwatch, stream, app, true, "third"));
    awaitProcessed(KEYS * PER_KEY);
    // Anything processed twice would show now.
    Thread.sleep(2000);
    CompletableFuture.allOf(b.startGracefulShutdown(), c.startGracefulShutdown())
        .get(60, TimeUnit.SECONDS);
    log("processed by worker: " + BY_WORKER);
    checkAllInOrder();
    check(
        BY_WORKER.getOrDefault("second", new AtomicInteger()).get() > 0
            && BY_WORKER.getOrDefault("third", new AtomicInteger()).get() > 0,
        "the two workers shared the shards: " + BY_WORKER);
    System.out.println("KCL workers scenario OK");
    System.exit(0);
  }

  static Scheduler start(Scheduler worker) {
    Thread thread = new Thread(worker, "kcl-worker");
    thread.setDaemon(true);
    thread.start();
    log("worker started");
    return worker;
  }

  static void awaitProcessed(int n) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    int last = -1;
    while (total() < n && System.nanoTime() < deadline) {
      if (total() != last) {
        last = total();
        log("processed " + last);
      }
      Thread.sleep(200);
    }
    log("processed " + total() + " (waiting for " + n + ")");
  }

  /** Every record exactly once, as produced, in any order. */
  static void checkAllOnce() {
    check(total() == KEYS * PER_KEY, "processed " + total() + " of " + KEYS * PER_KEY);
    for (int k = 0; k < KEYS; k++) {
      java.util.Set<String> got = new java.util.HashSet<>(SEEN.get("p" + k));
      for (int i = 0; i < PER_KEY; i++) {
        check(got.contains("p" + k + "-" + i), "p" + k + "-" + i + " arrived: " + got);
      }
    }
  }

  /** Every record exactly once, in order per partition key. */
  static void checkAllInOrder() {
    check(total() == KEYS * PER_KEY, "processed " + total() + " of " + KEYS * PER_KEY);
    for (int k = 0; k < KEYS; k++) {
      List<String> got = SEEN.get("p" + k);
      for (int i = 0; i < PER_KEY; i++) {
        check(got.get(i).equals("p" + k + "-" + i), "order of p" + k + ": " + got);
      }
    }
  }

  /**
   * The lease table as KCL 3 would make it, index included: dynalite cannot add an index
   * to an existing table, which is how the KCL makes it. Pre-creating the table is a
   * documented KCL setup; the KCL finds it and its index and goes on.
   */
  static void createLeaseTable(DynamoDbAsyncClient dynamo, String table) throws Exception {
    ProvisionedThroughput ten = ProvisionedThroughput.builder().readCapacityUnits(10L).writeCapacityUnits(10L).build();
    dynamo
        .createTable(
            b ->
                b.tableName(table)
                    .attributeDefinitions(
                        AttributeDefinition.builder().attributeName("leaseKey").attributeType(ScalarAttributeType.S).build(),
                        AttributeDefinition.builder().attributeName("leaseOwner").attributeType(ScalarAttributeType.S).build())
                    .keySchema(KeySchemaElement.builder().attributeName("leaseKey").keyType(KeyType.HASH).build())
                    .provisionedThroughput(ten)
                    .globalSecondaryIndexes(
                        GlobalSecondaryIndex.builder()
                            .indexName("LeaseOwnerToLeaseKeyIndex")
                            .keySchema(
                                KeySchemaElement.builder().attributeName("leaseOwner").keyType(KeyType.HASH).build(),
                                KeySchemaElement.builder().attributeName("leaseKey").keyType(KeyType.RANGE).build())
                            .projection(p -> p.projectionType(ProjectionType.KEYS_ONLY))
                            .provisionedThroughput(ten)
                            .build()))
        .get(30, TimeUnit.SECONDS);
    try (var w =
        software.amazon.awssdk.services.dynamodb.waiters.DynamoDbAsyncWaiter.builder()
            .client(dynamo)
            .overrideConfiguration(o -> o.backoffStrategy(FixedDelayBackoffStrategy.create(Duration.ofMillis(200))))
            .build()) {
      w.waitUntilTableExists(b -> b.tableName(table)).get(30, TimeUnit.SECONDS);
    }
  }

  static final long STARTED = System.nanoTime();

  static void log(String what) {
    System.err.printf("[%.1f s] %s%n", (System.nanoTime() - STARTED) / 1e9, what);
  }

  static int total() {
    return SEEN.values().stream().mapToInt(List::size).sum();
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      System.err.println("FAILED: " + what);
      System.exit(1);
    }
  }

  /**
   * Produces the second half of the records in three parts: before a split of shard 0,
   * between the split and a merge of its upper child with shard 1, and after the merge.
   * The KCL must follow both through ChildShards and lose nothing.
   */
  static void reshardWhileProducing(KinesisAsyncClient kinesis, String stream) throws Exception {
    int half = PER_KEY / 2;
    int third = half / 3;
    produce(kinesis, stream, half, half + third);
    var shards = kinesis.listShards(b -> b.streamName(stream)).get(30, TimeUnit.SECONDS).shards();
    var first = shards.get(0).hashKeyRange();
    java.math.BigInteger start = new java.math.BigInteger(first.startingHashKey());
    java.math.BigInteger end = new java.math.BigInteger(first.endingHashKey());
    String middle = start.add(end).shiftRight(1).toString();
    kinesis
        .splitShard(b -> b.streamName(stream).shardToSplit("shardId-000000000000").newStartingHashKey(middle))
        .get(30, TimeUnit.SECONDS);
    waitActive(kinesis, stream);
    log("split shard 0");
    produce(kinesis, stream, half + third, half + 2 * third);
    // Shard 0's upper child (shardId-000000000003) is adjacent to shard 1.
    kinesis
        .mergeShards(b -> b.streamName(stream).shardToMerge("shardId-000000000003").adjacentShardToMerge("shardId-000000000001"))
        .get(30, TimeUnit.SECONDS);
    waitActive(kinesis, stream);
    log("merged shards 3 and 1");
    produce(kinesis, stream, half + 2 * third, PER_KEY);
  }

  static void waitActive(KinesisAsyncClient kinesis, String stream) throws Exception {
    try (var w =
        software.amazon.awssdk.services.kinesis.waiters.KinesisAsyncWaiter.builder()
            .client(kinesis)
            .overrideConfiguration(o -> o.backoffStrategy(FixedDelayBackoffStrategy.create(Duration.ofMillis(200))))
            .build()) {
      w.waitUntilStreamExists(b -> b.streamName(stream)).get(30, TimeUnit.SECONDS);
    }
  }

  /** Records i in [from, to) of every key, one PutRecords per round. */
  static void produce(KinesisAsyncClient kinesis, String stream, int from, int to) throws Exception {
    for (int i = from; i < to; i++) {
      List<PutRecordsRequestEntry> batch = new ArrayList<>();
      for (int k = 0; k < KEYS; k++) {
        batch.add(
            PutRecordsRequestEntry.builder()
                .partitionKey("p" + k)
                .data(SdkBytes.fromUtf8String("p" + k + "-" + i))
                .build());
      }
      int failed =
          kinesis.putRecords(b -> b.streamName(stream).records(batch)).get(30, TimeUnit.SECONDS)
              .failedRecordCount();
      check(failed == 0, "PutRecords failed " + failed);
    }
  }

  static Scheduler scheduler(
      KinesisAsyncClient kinesis,
      DynamoDbAsyncClient dynamo,
      CloudWatchAsyncClient cloudwatch,
      String stream,
      String app,
      boolean polling,
      String workerId) {
    ConfigsBuilder configs =
        new ConfigsBuilder(
            new SingleStreamTracker(
                stream,
                InitialPositionInStreamExtended.newInitialPosition(
                    InitialPositionInStream.TRIM_HORIZON)),
            app,
            kinesis,
            dynamo,
            cloudwatch,
            workerId + "-" + UUID.randomUUID(),
            () -> new Processor(workerId));
    PollingConfig pollingConfig =
        new PollingConfig(stream, kinesis).idleTimeBetweenReadsInMillis(200);
    // Provisioned tables: dynalite wants a throughput on every index it creates.
    var leases =
        configs
            .leaseManagementConfig()
            .shardSyncIntervalMillis(1000)
            .failoverTimeMillis(5000)
            .billingMode(BillingMode.PROVISIONED)
            .initialLeaseTableReadCapacity(10)
            .initialLeaseTableWriteCapacity(10);
    leases.workerUtilizationAwareAssignmentConfig().workerMetricsTableConfig()
        .billingMode(BillingMode.PROVISIONED).readCapacity(10).writeCapacity(10);
    // Leases are assigned from worker metrics, reported every 30 s by default: a test
    // reports every second and assigns every two.
    leases
        .leaseAssignmentIntervalMillis(2000L)
        .dynamoDbLockBasedLeaderLeaseDurationInMillis(3000)
        .dynamoDbLockBasedLeaderHeartbeatPeriodInMillis(1000)
        .workerUtilizationAwareAssignmentConfig()
        .workerMetricsReporterFreqInMillis(1000)
        .inMemoryWorkerMetricsCaptureFrequencyMillis(500);
    var coordinator = configs.coordinatorConfig().parentShardPollIntervalMillis(500);
    coordinator.coordinatorStateTableConfig()
        .billingMode(BillingMode.PROVISIONED).readCapacity(10).writeCapacity(10);
    return new Scheduler(
        configs.checkpointConfig(),
        coordinator,
        leases,
        configs.lifecycleConfig(),
        configs.metricsConfig().metricsLevel(MetricsLevel.NONE),
        configs.processorConfig(),
        polling
            ? configs.retrievalConfig().retrievalSpecificConfig(pollingConfig)
            // The default: enhanced fan-out, a registered consumer and SubscribeToShard.
            : configs.retrievalConfig());
  }

  /** Keeps every record by partition key and checkpoints after each batch. */
  static final class Processor implements ShardRecordProcessor {
    private final String worker;

    Processor(String worker) {
      this.worker = worker;
    }

    @Override
    public void initialize(InitializationInput input) {}

    @Override
    public void processRecords(ProcessRecordsInput input) {
      for (KinesisClientRecord r : input.records()) {
        byte[] data = new byte[r.data().remaining()];
        r.data().get(data);
        BY_WORKER.computeIfAbsent(worker, w -> new AtomicInteger()).incrementAndGet();
        SEEN.computeIfAbsent(r.partitionKey(), k -> new CopyOnWriteArrayList<>())
            .add(new String(data, java.nio.charset.StandardCharsets.UTF_8));
      }
      try {
        input.checkpointer().checkpoint();
      } catch (Exception e) {
        throw new RuntimeException("checkpoint", e);
      }
    }

    @Override
    public void leaseLost(LeaseLostInput input) {}

    @Override
    public void shardEnded(ShardEndedInput input) {
      try {
        input.checkpointer().checkpoint();
      } catch (Exception e) {
        throw new RuntimeException("checkpoint at shard end", e);
      }
    }

    @Override
    public void shutdownRequested(ShutdownRequestedInput input) {
      try {
        input.checkpointer().checkpoint();
      } catch (Exception e) {
        throw new RuntimeException("checkpoint at shutdown", e);
      }
    }
  }
}
