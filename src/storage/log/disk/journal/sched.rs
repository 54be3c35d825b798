//! The committer's CPU scheduling policy. Each append wakes the committer, and each
//! write it waits on wakes it again; as an ordinary thread every such wake-up preempted
//! the request or load thread running on that core, and on two cores that ping-pong
//! cost more than it saved (docs/performance-history.md, "The committer as a batch thread").
//! So on Linux it runs `SCHED_BATCH` (`Fs::as_batch_thread`, `storage::fs::os`).

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use crate::storage::log::disk::tests_crash::{fill, opts};
    use crate::storage::log::disk::DiskLogStore;
    use crate::storage::log::Durability;
    use crate::storage::log::LogStore;

    /// The scheduling policies of this process's threads named `name`.
    fn thread_policies(name: &str) -> Vec<i32> {
        let mut policies = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let task = task.unwrap().path();
            let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let tid: libc::pid_t = task.file_name().unwrap().to_str().unwrap().parse().unwrap();
            // SAFETY: a plain query; a thread gone meanwhile answers -1.
            let policy = unsafe { libc::sched_getscheduler(tid) };
            if policy >= 0 {
                policies.push(policy);
            }
        }
        policies
    }

    #[test]
    fn the_committer_runs_as_a_batch_thread() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskLogStore::open(dir.path(), opts(Durability::Sync)).unwrap();
        let log = store.create(1).unwrap();
        // An acknowledged append means the commit loop has started.
        fill(&*log, 1, 10);
        let policies = thread_policies("shoal-journal");
        assert!(!policies.is_empty(), "no committer thread found");
        assert!(
            policies.iter().all(|p| *p == libc::SCHED_BATCH),
            "committer policies: {policies:?}"
        );
    }
}
