//! A small fixed set of threads for storage work, fed in arrival order.
//!
//! Requests that only read or write the database (refused resets, link
//! requests) run here instead of on actix's blocking pool. That pool grows a
//! thread per concurrent request (up to 256 per worker): 32 concurrent
//! refusals meant 32 threads queueing for 8 or 16 pooled connections, each
//! hand-off a wake-up, and the connection pool's wait is not first-come,
//! first-served, which gave PostgreSQL refusals a p99 of 0.4–0.6 s. A few
//! threads draining one queue keep the connections busy with fewer context
//! switches, and a request waits its turn in order (docs/benchmarks.md).
//!
//! Password hashing never runs here: a reset that gets as far as hashing
//! leaves the lane first, so a burst of resets cannot hold up refusals.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Lets storage stop waiting once its request's time is up. The lane runs
/// every job inside [`within`](Self::within), with the moment the request
/// stops waiting for storage: its arrival plus the lane's patience. Without
/// it, a job that waited almost all its patience for a thread could then
/// wait the connection pool's whole timeout too. The server wires the
/// database adapter's checkout deadline in here.
pub trait StorageDeadline: Send + Sync {
    /// Runs `work`, exactly once, with storage waits ending at `deadline`.
    fn within(&self, deadline: Instant, work: &mut dyn FnMut());
}

/// No deadline: storage waits on its own timeouts.
struct OwnTimeouts;

impl StorageDeadline for OwnTimeouts {
    fn within(&self, _deadline: Instant, work: &mut dyn FnMut()) {
        work();
    }
}

/// Why a job did not produce a result.
#[derive(Debug, Error)]
pub(crate) enum LaneError {
    /// It waited in the queue longer than the lane's patience and was not run.
    #[error("storage is busy: the request waited {0:?} for a thread")]
    Busy(Duration),
    /// It panicked (the thread survives).
    #[error("the storage job panicked")]
    Panicked,
}

/// The threads and their queue. Dropping the last handle lets the threads end
/// once the queue is empty.
pub(crate) struct Lane {
    jobs: Sender<Job>,
    patience: Duration,
    deadline: Arc<dyn StorageDeadline>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("patience", &self.patience).finish_non_exhaustive()
    }
}

impl Lane {
    /// Starts `threads` threads named `pwreset-db-N`. A job still queued after
    /// `patience` is answered [`LaneError::Busy`] without running, the way a
    /// connection pool's checkout times out.
    pub(crate) fn new(threads: usize, patience: Duration) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads.max(1) {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("pwreset-db-{n}"))
                .spawn(move || {
                    for job in queue {
                        job();
                    }
                })
                .expect("spawn a storage thread");
        }
        Self { jobs, patience, deadline: Arc::new(OwnTimeouts) }
    }

    /// Runs every job inside `deadline`.
    pub(crate) fn with_deadline(&mut self, deadline: Arc<dyn StorageDeadline>) {
        self.deadline = deadline;
    }

    /// Runs `work` on one of the lane's threads and waits for it without
    /// blocking the caller's thread. A job whose caller has gone away (the
    /// client disconnected) before a thread took it is not run.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, LaneError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let queued = Instant::now();
        let patience = self.patience;
        let deadline = self.deadline.clone();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let waited = queued.elapsed();
            let outcome = if waited > patience {
                Err(LaneError::Busy(waited))
            } else {
                let run = || {
                    let (mut work, mut out) = (Some(work), None);
                    deadline.within(queued + patience, &mut || out = work.take().map(|w| w()));
                    out.expect("a storage deadline runs the work it is given")
                };
                catch_unwind(AssertUnwindSafe(run)).map_err(|_| LaneError::Panicked)
            };
            let _ = done.send(outcome);
        });
        // The threads only end when every sender is gone, and `self` is one.
        self.jobs.send(job).expect("storage threads outlive their lane");
        result.await.unwrap_or(Err(LaneError::Panicked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn runs_work_and_returns_its_result() {
        let lane = Lane::new(2, Duration::from_secs(5));
        let name = block_on(lane.run(|| std::thread::current().name().map(str::to_owned)));
        assert!(name.unwrap().unwrap().starts_with("pwreset-db-"));
    }

    #[test]
    fn never_runs_more_jobs_at_once_than_it_has_threads() {
        let lane = Arc::new(Lane::new(3, Duration::from_secs(30)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..24)
            .map(|_| {
                let (lane, running, most) = (lane.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    block_on(lane.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    }))
                    .unwrap();
                })
            })
            .collect();
        for job in jobs {
            job.join().unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_panic_is_an_error_and_the_thread_goes_on() {
        let lane = Lane::new(1, Duration::from_secs(5));
        let panicked = block_on(lane.run(|| -> u8 { panic!("boom") }));
        assert!(matches!(panicked, Err(LaneError::Panicked)));
        assert_eq!(block_on(lane.run(|| 7)).unwrap(), 7);
    }

    #[test]
    fn a_job_that_waited_past_its_patience_is_refused_unrun() {
        let lane = Arc::new(Lane::new(1, Duration::from_millis(50)));
        let ran = Arc::new(AtomicUsize::new(0));
        let blocker = {
            let lane = lane.clone();
            std::thread::spawn(move || {
                block_on(lane.run(|| std::thread::sleep(Duration::from_millis(300)))).unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let counted = ran.clone();
        let late = block_on(lane.run(move || counted.fetch_add(1, Ordering::SeqCst)));
        blocker.join().unwrap();
        assert!(
            matches!(late, Err(LaneError::Busy(waited)) if waited >= Duration::from_millis(50))
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    /// Records the deadlines it is given and the thread the work ran on.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(Instant, Option<String>)>>);

    impl StorageDeadline for Recorder {
        fn within(&self, deadline: Instant, work: &mut dyn FnMut()) {
            work();
            let thread = std::thread::current().name().map(str::to_owned);
            self.0.lock().unwrap().push((deadline, thread));
        }
    }

    #[test]
    fn each_job_runs_inside_the_deadline_of_its_request() {
        let recorder = Arc::new(Recorder::default());
        let mut lane = Lane::new(1, Duration::from_secs(5));
        lane.with_deadline(recorder.clone());
        let before = Instant::now();
        assert_eq!(block_on(lane.run(|| 7)).unwrap(), 7);
        let after = Instant::now();
        let panicked = block_on(lane.run(|| -> u8 { panic!("boom") }));
        assert!(matches!(panicked, Err(LaneError::Panicked)));

        let seen = recorder.0.lock().unwrap();
        assert_eq!(seen.len(), 1, "the panicking job never returned into the recorder");
        let (deadline, thread) = &seen[0];
        // Its arrival plus the patience: not the moment a thread took it.
        assert!(*deadline >= before + Duration::from_secs(5), "{deadline:?}");
        assert!(*deadline <= after + Duration::from_secs(5), "{deadline:?}");
        assert_eq!(thread.as_deref(), Some("pwreset-db-0"), "on the lane's thread");
    }

    #[test]
    fn a_job_whose_caller_left_is_skipped() {
        let lane = Arc::new(Lane::new(1, Duration::from_secs(5)));
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let lane = lane.clone();
            std::thread::spawn(move || block_on(lane.run(move || gate.recv().unwrap())).unwrap())
        };
        std::thread::sleep(Duration::from_millis(20));
        // Queue a job, then drop its future: the caller is gone.
        let counted = ran.clone();
        let abandoned = lane.run(move || counted.fetch_add(1, Ordering::SeqCst));
        block_on(async {
            tokio::select! {
                biased;
                _ = abandoned => unreachable!("the only thread is blocked"),
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        });
        release.send(()).unwrap();
        blocker.join().unwrap();
        // A job queued after the abandoned one has run, so the lane got past it.
        block_on(lane.run(|| ())).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
