//! The other clients users have, each through a create / put / get / reshard / tag /
//! delete scenario against a server started here: boto3 (`tests/python`), the AWS CLI
//! (`tests/cli`), the JS v3 client over HTTP/2 (`tests/js`), the Go SDK v2
//! (`tests/go`), the Java SDK v2 (`tests/jvm`), and the web console in headless
//! Chromium. `.ci/run` installs them; `SHOAL_PYTHON`, `AWS_CLI`, `SHOAL_GO_SCENARIO`
//! and `SHOAL_JVM_CLASSPATH` name what it installed.

use std::process::{Command, Output};

use crate::common::*;

/// A server for the client scenarios: on disk, with a short CREATING phase so waiters
/// really wait.
async fn scenario_server() -> TestServer {
    start_with(true, |c| c.streams.create_delay_ms = 200).await
}

/// A server for the SDK-and-library scenarios (Go, Java, KCL, KPL): on disk with the
/// default throughput limits on, as users run it, so the clients' retries on
/// ProvisionedThroughputExceededException and LimitExceededException are exercised.
async fn throttled_server(tls: bool) -> TestServer {
    start_with(true, |c| {
        c.streams.create_delay_ms = 200;
        c.limits.throttle = true;
        if tls {
            c.server.tls_port = Some(0);
        }
    })
    .await
}

/// Runs a client program against `s` (then stops it) and returns its output.
async fn run_against(
    s: TestServer,
    program: String,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    install_hint: &'static str,
) -> Output {
    let endpoint = s.endpoint.clone();
    let shown = format!("{program} {}", args.join(" "));
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&program)
            .args(&args)
            .env("SHOAL_ENDPOINT", endpoint)
            .envs(env)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run {shown}: {e}; {install_hint}"));
    s.running.stop().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{shown} failed ({install_hint}):\n{stdout}\n{stderr}"
    );
    out
}

const BOTO3_HINT: &str =
    "install boto3 with `pip install -r tests/python/requirements.txt`, or run .ci/run";

async fn boto3_suite(s: TestServer, env: Vec<(&'static str, &'static str)>) {
    let python = std::env::var("SHOAL_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = run_against(
        s,
        python,
        vec!["tests/python/test_boto3.py".into()],
        env,
        BOTO3_HINT,
    )
    .await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OK"),
        "boto3 suite printed no result"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip() {
    boto3_suite(scenario_server().await, Vec::new()).await;
}

/// The same suite against a server that verifies signatures: botocore's signer
/// (`content-type;host;x-amz-date;x-amz-target`) must pass, in the key's account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_round_trip_with_verified_signatures() {
    let s = start_with(true, |c| {
        c.streams.create_delay_ms = 200;
        c.auth.credentials =
            vec![
                shoal::config::CredentialConfig::parse("AKIDBOTO3:b0t0/S3cret+:333333333333")
                    .unwrap(),
            ];
    })
    .await;
    let env = vec![
        ("SHOAL_ACCESS_KEY", "AKIDBOTO3"),
        ("SHOAL_SECRET", "b0t0/S3cret+"),
        ("SHOAL_ACCOUNT", "333333333333"),
    ];
    boto3_suite(s, env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_scenario() {
    let out = run_against(
        scenario_server().await,
        "bash".into(),
        vec!["tests/cli/scenario.sh".into()],
        Vec::new(),
        "install the AWS CLI with `pip install -r tests/python/requirements.txt`, or run .ci/run",
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("CLI scenario OK"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_v3_client_over_http2() {
    let out = run_against(
        scenario_server().await,
        "node".into(),
        vec!["--test".into(), "tests/js/scenario.test.mjs".into()],
        Vec::new(),
        JS_HINT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("# fail 0") && stdout.contains("# pass 2"),
        "{stdout}"
    );
}

const JS_HINT: &str = "install it with `npm ci --prefix tests/js`, or run .ci/run";

const GO_HINT: &str =
    "the Go scenario needs Go and the module proxy (`go build` in tests/go), or run .ci/run";

/// The Go scenario's binary: the one `.ci/run` built (`SHOAL_GO_SCENARIO`), else built
/// here with `go build` (the module cache makes a second build quick).
fn go_scenario() -> String {
    if let Ok(path) = std::env::var("SHOAL_GO_SCENARIO") {
        return path;
    }
    let out = format!("{}/go-scenario", env!("CARGO_TARGET_TMPDIR"));
    let built = Command::new("go")
        .args(["build", "-o", &out, "."])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go"))
        .status()
        .unwrap_or_else(|e| panic!("cannot run go: {e}; {GO_HINT}"));
    assert!(built.success(), "go build failed; {GO_HINT}");
    out
}

/// The Go SDK v2 (`tests/go/main.go`): create, PutRecord and PutRecords, GetRecords
/// through iterators on every shard, a typed ResourceNotFoundException, SubscribeToShard
/// through a consumer, delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_sdk_v2_scenario() {
    let program = tokio::task::spawn_blocking(go_scenario).await.unwrap();
    let out = run_against(
        throttled_server(false).await,
        program,
        Vec::new(),
        Vec::new(),
        GO_HINT,
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("Go scenario OK"));
}

const JVM_HINT: &str =
    "the JVM clients need Java 17 and Maven (`mvn -f tests/jvm/pom.xml package dependency:build-classpath`), or run .ci/run";

/// The classpath of the Maven project in `dir` (relative to the crate): the one
/// `.ci/run` built and named in `env_var`, else built here once with Maven (its
/// repository makes a second build quick).
fn maven_classpath(cell: &'static std::sync::OnceLock<String>, env_var: &str, dir: &str) -> String {
    cell.get_or_init(|| {
        if let Ok(cp) = std::env::var(env_var) {
            return cp;
        }
        let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
        let built = Command::new("mvn")
            .args(["-q", "-B", "package", "dependency:build-classpath"])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| panic!("cannot run mvn: {e}; {JVM_HINT}"));
        assert!(
            built.success(),
            "the Maven build of {dir} failed; {JVM_HINT}"
        );
        let deps = std::fs::read_to_string(format!("{dir}/target/classpath.txt"))
            .unwrap_or_else(|e| panic!("no classpath.txt: {e}; {JVM_HINT}"));
        format!("{dir}/target/classes:{}", deps.trim())
    })
    .clone()
}

/// `tests/jvm`: the Java SDK v2 scenarios and the KCL application.
fn jvm_classpath() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    maven_classpath(&BUILT, "SHOAL_JVM_CLASSPATH", "tests/jvm")
}

/// `tests/jvm/kpl`, apart because the KPL needs protobuf 3 and the KCL 4.
fn kpl_classpath() -> String {
    static BUILT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    maven_classpath(&BUILT, "SHOAL_KPL_CLASSPATH", "tests/jvm/kpl")
}

/// Runs `shoal.JavaSdkScenario <mode>` against `s` with a small heap.
async fn java_scenario(s: TestServer, mode: &str, env: Vec<(&'static str, &'static str)>) {
    let classpath = tokio::task::spawn_blocking(jvm_classpath).await.unwrap();
    let args = ["-Xmx256m", "-cp", &classpath, "shoal.JavaSdkScenario", mode]
        .map(String::from)
        .to_vec();
    let out = run_against(s, "java".into(), args, env, JVM_HINT).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("Java {mode} scenario OK")),
        "{stdout}"
    );
}

/// The synchronous client with its defaults (CBOR, Apache HTTP/1.1): writes, reads
/// through iterators (AT_TIMESTAMP and AT_SEQUENCE_NUMBER), typed exceptions, tags,
/// retention, UpdateShardCount, ListShards with a filter, DescribeLimits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_sdk_v2_sync_client_over_cbor() {
    java_scenario(throttled_server(false).await, "sync", Vec::new()).await;
}

/// The async client on Netty over HTTP/2 and TLS, trusting the certificate Shoal
/// generated: PutRecords, GetRecords and SubscribeToShard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn java_sdk_v2_async_client_over_http2_and_tls() {
    let s = throttled_server(true).await;
    let leak = |v: String| -> &'static str { Box::leak(v.into_boxed_str()) };
    let endpoint = leak(format!("https://{}", s.running.tls_addr.unwrap()));
    let cert = leak(format!(
        "{}/tls/cert.pem",
        s.dir.as_ref().unwrap().path().display()
    ));
    let env = vec![("SHOAL_TLS_ENDPOINT", endpoint), ("SHOAL_TLS_CERT", cert)];
    java_scenario(s, "async", env).await;
}

/// dynalite, the DynamoDB emulator the KCL keeps its leases in, on a free loopback
/// port; killed when dropped.
struct Dynalite {
    child: std::process::Child,
    endpoint: String,
}

impl Dynalite {
    fn start() -> Dynalite {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let cli = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/js/node_modules/dynalite/cli.js"
        );
        let child = Command::new("node")
            .args([cli, "--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dynalite: {e}; {JS_HINT}"));
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "dynalite did not listen; {JS_HINT}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Dynalite {
            child,
            endpoint: format!("http://{addr}"),
        }
    }
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A KCL 3 application (`tests/jvm/.../KclScenario.java`) in `mode` (`polling` or
/// `fanout`), its leases in dynalite and CloudWatch off: every record, produced before
/// and while it runs, is processed in order per partition key.
async fn kcl_scenario(mode: &'static str) {
    let dynamo = tokio::task::spawn_blocking(Dynalite::start).await.unwrap();
    let classpath = tokio::task::spawn_blocking(jvm_classpath).await.unwrap();
    let endpoint: &'static str = Box::leak(dynamo.endpoint.clone().into_boxed_str());
    let args = ["-Xmx384m", "-cp", &classpath, "shoal.KclScenario", mode]
        .map(String::from)
        .to_vec();
    let env = vec![("SHOAL_DYNAMODB_ENDPOINT", endpoint)];
    let out = run_against(
        throttled_server(false).await,
        "java".into(),
        args,
        env,
        JVM_HINT,
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("KCL {mode} scenario OK")),
        "{stdout}"
    );
    drop(dynamo);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcl_consumes_a_stream_with_polling() {
    kcl_scenario("polling").await;
}

/// Enhanced fan-out, the KCL's default: RegisterStreamConsumer, DescribeStreamConsumer
/// polling, SubscribeToShard over h2c.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcl_consumes_a_stream_with_enhanced_fan_out() {
    kcl_scenario("fanout").await;
}

/// A split of shard 0 and a merge of its upper child with shard 1 while the KCL
/// consumes: it follows both through ChildShards, parents before children, and every
/// record is processed in order per partition key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcl_follows_a_split_and_a_merge() {
    kcl_scenario("reshard").await;
}

/// A worker processes half the records and stops; two new workers of the same
/// application then resume from its checkpoints (nothing twice, nothing lost) and
/// share the four shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcl_workers_resume_from_checkpoints_and_share_shards() {
    kcl_scenario("workers").await;
}

/// The KPL (its native daemon, aggregation on) puts 320 user records over TLS with
/// certificate checks off, its STS call answered by Shoal; then the KCL consumes them,
/// deaggregating, and sees each user record exactly as produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kpl_aggregated_records_reach_the_kcl_as_produced() {
    let s = throttled_server(true).await;
    create_active(&s.client, "kcl-kpl", 2).await;
    let port = s.running.tls_addr.unwrap().port().to_string();
    let kpl_cp = tokio::task::spawn_blocking(kpl_classpath).await.unwrap();
    let produced = tokio::task::spawn_blocking(move || {
        Command::new("java")
            .args([
                "-Xmx256m",
                "-cp",
                &kpl_cp,
                "shoal.KplProducer",
                "kcl-kpl",
                "8",
                "40",
            ])
            .env("SHOAL_TLS_PORT", port)
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("cannot run java: {e}; {JVM_HINT}"));
    let stdout = String::from_utf8_lossy(&produced.stdout);
    assert!(
        produced.status.success() && stdout.contains("KPL put 320 user records"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&produced.stderr)
    );
    let dynamo = tokio::task::spawn_blocking(Dynalite::start).await.unwrap();
    let classpath = tokio::task::spawn_blocking(jvm_classpath).await.unwrap();
    let endpoint: &'static str = Box::leak(dynamo.endpoint.clone().into_boxed_str());
    let args = ["-Xmx384m", "-cp", &classpath, "shoal.KclScenario", "kpl"]
        .map(String::from)
        .to_vec();
    let env = vec![("SHOAL_DYNAMODB_ENDPOINT", endpoint)];
    let out = run_against(s, "java".into(), args, env, JVM_HINT).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("KCL kpl scenario OK"));
    drop(dynamo);
}

/// The web console in headless Chromium (`tests/js/console.test.mjs`): the page loads,
/// traffic the test creates shows on its charts, its record browser shows the records,
/// and a split shows on the shard map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_shows_traffic_in_headless_chromium() {
    let out = run_against(
        scenario_server().await,
        "node".into(),
        vec!["--test".into(), "tests/js/console.test.mjs".into()],
        Vec::new(),
        "install playwright-core with `npm ci --prefix tests/js` and Debian's chromium, or run .ci/run",
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("# fail 0") && !stdout.contains("# pass 0"),
        "{stdout}"
    );
}
