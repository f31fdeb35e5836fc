//! The one way blocking work runs: a small fixed set of threads per kind of
//! work, fed in arrival order, each request waiting a bounded time for its
//! turn.
//!
//! Two lanes exist. The **storage lane** runs requests that only read or
//! write the database (refused resets, link requests). actix's blocking pool
//! would grow a thread per concurrent request (up to 256 per worker): 32
//! concurrent refusals meant 32 threads queueing for 8 or 16 pooled
//! connections, each hand-off a wake-up, and the connection pool's wait is
//! not first-come, first-served, which gave PostgreSQL refusals a p99 of
//! 0.4–0.6 s. A few threads draining one queue keep the connections busy with
//! fewer context switches, and a request waits its turn in order
//! (docs/benchmarks.md). The **hashing lane** runs the rare request that
//! gets as far as hashing a password, on as many threads as hashes may run
//! at once, so a burst of resets cannot hold up the refusals queued on the
//! storage lane, and the bound holds whichever hasher the ports carry.
//!
//! Every job runs inside the span of the request that queued it, so what
//! storage or hashing logs carries the request's correlation id.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use thiserror::Error;
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Lets storage stop waiting once its request's time is up. The lane runs
/// every job inside [`within`](Self::within), with the moment the request
/// stops waiting: its arrival plus the lane's `wait`. Without it, a job that
/// waited almost all its `wait` for a thread could then wait the connection
/// pool's whole timeout too. The server wires the database adapter's
/// checkout deadline in here.
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
    /// It waited in the queue longer than the lane's `wait` and was not run.
    #[error("the {0} lane is busy: the request waited {1:?} for a thread")]
    Busy(&'static str, Duration),
    /// It panicked (the thread survives).
    #[error("a job on the {0} lane panicked")]
    Panicked(&'static str),
}

/// How the OS schedules a lane's threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// Like the request handlers.
    Normal,
    /// Below them ([`BACKGROUND_NICE`] more nice, on Linux): the threads get
    /// every CPU cycle request handling leaves, and give it up as soon as a
    /// request wants it. Hashing runs so, on as many threads as cores,
    /// without starving refusals (docs/benchmarks.md).
    Background,
}

/// How much nicer than the process a [`Priority::Background`] thread runs.
/// At +10 the kernel gives a runnable request thread about nine tenths of a
/// contended core, and wakes it ahead of the hashing thread it preempts.
pub(crate) const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's priority by [`BACKGROUND_NICE`] (Linux keeps a
/// nice value per thread). Elsewhere, and where the OS refuses, the thread
/// stays as it is: the lane's thread count still bounds the work.
fn lower_own_priority(lane: &str) {
    #[cfg(target_os = "linux")]
    {
        let me = Some(rustix::thread::gettid());
        let lowered = rustix::process::getpriority_process(me).and_then(|nice| {
            rustix::process::setpriority_process(me, (nice + BACKGROUND_NICE).min(19))
        });
        if let Err(e) = lowered {
            tracing::warn!(lane, error = %e, "cannot lower the priority of a lane thread");
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::debug!(lane, "lane threads keep the process's priority on this OS");
}

/// This thread's nice value (Linux).
#[cfg(all(test, target_os = "linux"))]
fn own_nice() -> i32 {
    rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
}

/// How many jobs a lane is running and how many wait for a thread.
#[derive(Debug, Default)]
struct Load {
    running: AtomicUsize,
    queued: AtomicUsize,
}

/// Counts a job as running while it lives, panics included.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The threads and their queue. Dropping the last handle lets the threads end
/// once the queue is empty.
pub(crate) struct Lane {
    name: &'static str,
    jobs: Sender<Job>,
    wait: Duration,
    deadline: Arc<dyn StorageDeadline>,
    load: Arc<Load>,
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("name", &self.name)
            .field("wait", &self.wait)
            .field("load", &self.load)
            .finish_non_exhaustive()
    }
}

impl Lane {
    /// Starts `threads` threads named `pwreset-{name}-N`, scheduled at
    /// `priority`. A job still queued after `wait` is answered
    /// [`LaneError::Busy`] without running, the way a connection pool's
    /// checkout times out.
    pub(crate) fn new(
        name: &'static str,
        threads: usize,
        wait: Duration,
        priority: Priority,
    ) -> Self {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        for n in 0..threads.max(1) {
            let queue: Receiver<Job> = queue.clone();
            std::thread::Builder::new()
                .name(format!("pwreset-{name}-{n}"))
                .spawn(move || {
                    if priority == Priority::Background {
                        lower_own_priority(name);
                    }
                    for job in queue {
                        job();
                    }
                })
                .expect("spawn a lane thread");
        }
        Self { name, jobs, wait, deadline: Arc::new(OwnTimeouts), load: Arc::default() }
    }

    /// Runs every job inside `deadline`.
    pub(crate) fn with_deadline(&mut self, deadline: Arc<dyn StorageDeadline>) {
        self.deadline = deadline;
    }

    /// Jobs running now.
    pub(crate) fn running(&self) -> usize {
        self.load.running.load(Ordering::Relaxed)
    }

    /// Jobs waiting for a thread now.
    pub(crate) fn queued(&self) -> usize {
        self.load.queued.load(Ordering::Relaxed)
    }

    /// Runs `work` on one of the lane's threads, inside the caller's tracing
    /// span, and waits for it without blocking the caller's thread. A job
    /// whose caller has gone away (the client disconnected) before a thread
    /// took it is not run. `waited` is told how long the job waited for its
    /// thread, whether it then ran or was refused.
    pub(crate) async fn run<T, F>(
        &self,
        work: F,
        waited: impl FnOnce(Duration) + Send + 'static,
    ) -> Result<T, LaneError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (done, result) = oneshot::channel();
        let queued = Instant::now();
        let (name, wait, deadline, load) =
            (self.name, self.wait, self.deadline.clone(), self.load.clone());
        // The span's subscriber is the caller's: a test's scoped subscriber
        // sees the job's events as well as the global one does.
        let span = tracing::Span::current();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let job: Job = Box::new(move || {
            load.queued.fetch_sub(1, Ordering::Relaxed);
            if done.is_closed() {
                return;
            }
            let elapsed = queued.elapsed();
            waited(elapsed);
            let outcome = if elapsed > wait {
                Err(LaneError::Busy(name, elapsed))
            } else {
                let _running = Running::start(&load.running);
                let run = || {
                    tracing::dispatcher::with_default(&dispatch, || {
                        span.in_scope(|| {
                            let (mut work, mut out) = (Some(work), None);
                            deadline.within(queued + wait, &mut || out = work.take().map(|w| w()));
                            out.expect("a storage deadline runs the work it is given")
                        })
                    })
                };
                catch_unwind(AssertUnwindSafe(run)).map_err(|_| LaneError::Panicked(name))
            };
            let _ = done.send(outcome);
        });
        self.load.queued.fetch_add(1, Ordering::Relaxed);
        // The threads only end when every sender is gone, and `self` is one.
        self.jobs.send(job).expect("lane threads outlive their lane");
        result.await.unwrap_or(Err(LaneError::Panicked(self.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    impl Lane {
        fn new_normal(name: &'static str, threads: usize, wait: Duration) -> Self {
            Self::new(name, threads, wait, Priority::Normal)
        }

        /// `run` without looking at the wait.
        async fn run_now<T, F>(&self, work: F) -> Result<T, LaneError>
        where
            F: FnOnce() -> T + Send + 'static,
            T: Send + 'static,
        {
            self.run(work, |_| ()).await
        }
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
    }

    #[test]
    fn runs_work_and_returns_its_result() {
        let lane = Lane::new_normal("db", 2, Duration::from_secs(5));
        let name = block_on(lane.run_now(|| std::thread::current().name().map(str::to_owned)));
        assert!(name.unwrap().unwrap().starts_with("pwreset-db-"));
    }

    #[test]
    fn never_runs_more_jobs_at_once_than_it_has_threads() {
        let lane = Arc::new(Lane::new_normal("db", 3, Duration::from_secs(30)));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..24)
            .map(|_| {
                let (lane, running, most) = (lane.clone(), running.clone(), most.clone());
                std::thread::spawn(move || {
                    block_on(lane.run_now(move || {
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
        let lane = Lane::new_normal("db", 1, Duration::from_secs(5));
        let panicked = block_on(lane.run_now(|| -> u8 { panic!("boom") }));
        assert!(matches!(panicked, Err(LaneError::Panicked("db"))));
        assert_eq!(block_on(lane.run_now(|| 7)).unwrap(), 7);
    }

    #[test]
    fn a_job_that_waited_past_its_patience_is_refused_unrun() {
        let lane = Arc::new(Lane::new_normal("db", 1, Duration::from_millis(50)));
        let ran = Arc::new(AtomicUsize::new(0));
        let blocker = {
            let lane = lane.clone();
            std::thread::spawn(move || {
                block_on(lane.run_now(|| std::thread::sleep(Duration::from_millis(300)))).unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let counted = ran.clone();
        let late = block_on(lane.run_now(move || counted.fetch_add(1, Ordering::SeqCst)));
        blocker.join().unwrap();
        assert!(
            matches!(late, Err(LaneError::Busy("db", waited)) if waited >= Duration::from_millis(50))
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
        let mut lane = Lane::new_normal("db", 1, Duration::from_secs(5));
        lane.with_deadline(recorder.clone());
        let before = Instant::now();
        assert_eq!(block_on(lane.run_now(|| 7)).unwrap(), 7);
        let after = Instant::now();
        let panicked = block_on(lane.run_now(|| -> u8 { panic!("boom") }));
        assert!(matches!(panicked, Err(LaneError::Panicked("db"))));

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
        let lane = Arc::new(Lane::new_normal("db", 1, Duration::from_secs(5)));
        let ran = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let lane = lane.clone();
            std::thread::spawn(move || {
                block_on(lane.run_now(move || gate.recv().unwrap())).unwrap()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        // Queue a job, then drop its future: the caller is gone.
        let counted = ran.clone();
        let abandoned = lane.run_now(move || counted.fetch_add(1, Ordering::SeqCst));
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
        block_on(lane.run_now(|| ())).unwrap();
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn it_counts_running_and_queued_jobs_and_reports_each_wait() {
        let lane = Arc::new(Lane::new_normal("hash", 1, Duration::from_secs(5)));
        let waits = Arc::new(Mutex::new(Vec::new()));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let first = {
            let (lane, waits) = (lane.clone(), waits.clone());
            std::thread::spawn(move || {
                let work = move || {
                    started.send(()).unwrap();
                    gate.recv().unwrap();
                };
                block_on(lane.run(work, move |w| waits.lock().unwrap().push(w))).unwrap()
            })
        };
        running.recv().unwrap();
        let second = {
            let (lane, waits) = (lane.clone(), waits.clone());
            std::thread::spawn(move || {
                block_on(lane.run(|| (), move |w| waits.lock().unwrap().push(w))).unwrap()
            })
        };
        while lane.queued() == 0 {
            std::thread::yield_now();
        }
        assert_eq!((lane.running(), lane.queued()), (1, 1));
        std::thread::sleep(Duration::from_millis(30));
        release.send(()).unwrap();
        first.join().unwrap();
        second.join().unwrap();
        assert_eq!((lane.running(), lane.queued()), (0, 0));
        let waits = waits.lock().unwrap();
        assert_eq!(waits.len(), 2);
        assert!(waits[1] >= Duration::from_millis(30), "the second waited its turn: {waits:?}");
    }

    #[test]
    fn a_job_runs_inside_the_span_of_its_caller() {
        use tracing::subscriber::with_default;
        use tracing_subscriber::layer::SubscriberExt as _;

        /// The names of the spans current when each event was recorded.
        #[derive(Clone, Default)]
        struct Spans(Arc<Mutex<Vec<Option<String>>>>);

        impl<S> tracing_subscriber::Layer<S> for Spans
        where
            S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
        {
            fn on_event(
                &self,
                _event: &tracing::Event<'_>,
                ctx: tracing_subscriber::layer::Context<'_, S>,
            ) {
                let span = ctx.lookup_current().map(|s| s.name().to_owned());
                self.0.lock().unwrap().push(span);
            }
        }

        let seen = Spans::default();
        let subscriber = tracing_subscriber::registry().with(seen.clone());
        let lane = Lane::new_normal("db", 1, Duration::from_secs(5));
        with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let job = lane.run_now(|| tracing::info!("from the lane"));
            block_on(tracing::Instrument::instrument(job, span)).unwrap();
            block_on(lane.run_now(|| tracing::info!("outside any span"))).unwrap();
        });
        assert_eq!(*seen.0.lock().unwrap(), [Some("request".to_owned()), None]);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn background_threads_run_nicer_than_the_process_and_normal_ones_do_not() {
        let here = own_nice();
        let background = Lane::new("hash", 1, Duration::from_secs(5), Priority::Background);
        let normal = Lane::new_normal("db", 1, Duration::from_secs(5));
        assert_eq!(
            block_on(background.run_now(own_nice)).unwrap(),
            (here + BACKGROUND_NICE).min(19)
        );
        assert_eq!(block_on(normal.run_now(own_nice)).unwrap(), here);
        assert_eq!(own_nice(), here, "the caller's thread is untouched");
    }
}
