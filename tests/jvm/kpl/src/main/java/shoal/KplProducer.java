package shoal;

import com.amazonaws.auth.AWSStaticCredentialsProvider;
import com.amazonaws.auth.BasicAWSCredentials;
import com.amazonaws.services.kinesis.producer.KinesisProducer;
import com.amazonaws.services.kinesis.producer.KinesisProducerConfiguration;
import com.amazonaws.services.kinesis.producer.UserRecordResult;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * The KPL putting records into an existing Shoal stream (args: stream, keys, records per
 * key) through its native daemon: aggregation on (many user records per Kinesis
 * record), over TLS to 127.0.0.1:SHOAL_TLS_PORT with certificate checks off, its STS
 * GetCallerIdentity answered by Shoal on the same port, CloudWatch metrics off. The
 * record of key pK number i holds "pK-i". Prints "KPL put N user records".
 */
public final class KplProducer {
  public static void main(String[] args) throws Exception {
    String stream = args[0];
    int keys = Integer.parseInt(args[1]);
    int perKey = Integer.parseInt(args[2]);
    long port = Long.parseLong(System.getenv("SHOAL_TLS_PORT"));
    KinesisProducerConfiguration config =
        new KinesisProducerConfiguration()
            .setRegion("us-east-1")
            .setKinesisEndpoint("127.0.0.1")
            .setKinesisPort(port)
            .setStsEndpoint("127.0.0.1")
            .setStsPort(port)
            .setVerifyCertificate(false)
            .setMetricsLevel("none")
            .setAggregationEnabled(true)
            .setRecordMaxBufferedTime(100)
            .setLogLevel("warning")
            .setCredentialsProvider(
                new AWSStaticCredentialsProvider(new BasicAWSCredentials("AKIDKPL", "secret")));
    KinesisProducer producer = new KinesisProducer(config);
    List<Future<UserRecordResult>> sent = new ArrayList<>();
    for (int i = 0; i < perKey; i++) {
      for (int k = 0; k < keys; k++) {
        byte[] data = ("p" + k + "-" + i).getBytes(StandardCharsets.UTF_8);
        sent.add(producer.addUserRecord(stream, "p" + k, ByteBuffer.wrap(data)));
      }
    }
    producer.flushSync();
    // Aggregated user records share their Kinesis record's sequence number.
    java.util.Set<String> kinesisRecords = new java.util.HashSet<>();
    for (Future<UserRecordResult> f : sent) {
      UserRecordResult r = f.get(60, TimeUnit.SECONDS);
      if (!r.isSuccessful()) {
        System.err.println("FAILED: a user record was not put: " + r.getAttempts());
        System.exit(1);
      }
      kinesisRecords.add(r.getShardId() + "/" + r.getSequenceNumber());
    }
    producer.destroy();
    if (kinesisRecords.size() >= sent.size()) {
      System.err.println("FAILED: nothing was aggregated (" + kinesisRecords.size() + " Kinesis records)");
      System.exit(1);
    }
    System.out.println(
        "KPL put " + sent.size() + " user records in " + kinesisRecords.size() + " Kinesis records");
    System.exit(0);
  }
}
