//! Cut sweeps (issue 19): every transaction a locker makes (pickup,
//! drop-off, return, collection) run once per instant of interest, with a
//! power cut or a brownout at that instant, then finished by a customer who
//! does whatever the cut left undone. The instants are every event the
//! controller reports during the uncut transaction and every
//! [`STEP`] in between, from the first key to the door shut again.
//!
//! Afterwards the transaction has happened exactly once (one event, one
//! back-office record, the parcel where it belongs, its code spent), every
//! door is shut and latched, and the runner's invariants
//! ([`locker_hil::run::invariants`]) hold over the whole run: never lost,
//! never both, no door unlocked unattended.
//!
//! Every instant on sim (it is cheap there), a sample on qemu.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::repo;
use locker_core::codes;
use locker_hil::model::rigfile::RigDescription;
use locker_hil::model::suite::{DoorAction, PackageAction, PowerAction};
use locker_hil::rigs::sim::SimRig;
use locker_hil::rigs::{FixtureAction, Measurement, Rig, RigOutput, Truth};
use locker_hil::run::invariants::Invariants;
use locker_proto::{CodeResult, DiagItem, Event, LineDecoder, ToHarness, UplinkKind, parse_frame};
use std::time::Duration;

/// The sweep's step between the controller's own events.
const STEP: Duration = Duration::from_millis(25);
/// The compartment every transaction uses (index 2 in the reference wall).
const C: usize = 2;
const SEED: u64 = 19;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pickup,
    Dropoff,
    Return,
    Collect,
}

impl Kind {
    const ALL: [Self; 4] = [Self::Pickup, Self::Dropoff, Self::Return, Self::Collect];

    /// The record (and event) the transaction makes, and what the customer
    /// does with the package once the door is open.
    fn record(self) -> UplinkKind {
        match self {
            Self::Pickup => UplinkKind::Pickup,
            Self::Dropoff => UplinkKind::Dropoff,
            Self::Return => UplinkKind::Return,
            Self::Collect => UplinkKind::Collect,
        }
    }

    fn package(self) -> PackageAction {
        match self {
            Self::Pickup | Self::Collect => PackageAction::Out,
            Self::Dropoff | Self::Return => PackageAction::In,
        }
    }

    /// The verdict on the same code typed again once it is spent.
    fn spent(self) -> CodeResult {
        match self {
            Self::Pickup => CodeResult::Wrong,
            Self::Return => CodeResult::Used,
            Self::Dropoff | Self::Collect => CodeResult::Unavailable,
        }
    }

    fn event_is(self, e: &Event) -> bool {
        matches!(
            (self, e),
            (Self::Pickup, Event::Pickup { .. })
                | (Self::Dropoff, Event::Dropoff { .. })
                | (Self::Return, Event::Return { .. })
                | (Self::Collect, Event::Collected { .. })
        )
    }
}

/// A rig driven the way a customer and the runner would, keeping what it
/// saw: the controller's events, the plant's truth, the back office.
struct Drive<R: Rig> {
    rig: R,
    cfg: locker_core::Config,
    dec: LineDecoder,
    inv: Invariants,
    events: Vec<(Duration, Event)>,
    door_open: Vec<bool>,
    bolt_out: Vec<bool>,
    package: Vec<bool>,
    records: Vec<UplinkKind>,
    /// A cut to make when rig time reaches it.
    cut: Option<(Duration, PowerAction)>,
}

impl<R: Rig> Drive<R> {
    async fn new(mut rig: R, desc: &RigDescription) -> Self {
        rig.flash().await.expect("flash");
        rig.prepare(SEED).await.expect("prepare");
        let names: Vec<String> = desc.compartments.iter().map(|(n, _)| n.clone()).collect();
        let n = names.len();
        let mut d = Self {
            rig,
            cfg: desc.controller_config(),
            dec: LineDecoder::new(),
            inv: Invariants::new(names),
            events: Vec::new(),
            door_open: vec![false; n],
            bolt_out: vec![false; n],
            package: vec![false; n],
            records: Vec::new(),
            cut: None,
        };
        assert!(d.booted(ms(0)).await, "no self-test at power-on");
        d
    }

    fn now(&self) -> Duration {
        self.rig.now()
    }

    /// Take in what the rig says until rig time `t`, making the cut on the way.
    async fn until(&mut self, t: Duration) {
        loop {
            if let Some((at, p)) = self.cut
                && self.now() >= at
            {
                self.cut = None;
                self.act(FixtureAction::Power(p)).await;
            }
            if self.now() >= t {
                return;
            }
            let stop = match self.cut {
                Some((at, _)) if at < t => at,
                _ => t,
            };
            let out = self.rig.recv(stop).await.expect("rig");
            // Stamped when it came: `recv` moves the rig clock to it.
            let now = self.now();
            match out {
                RigOutput::Console(bytes) => {
                    for b in bytes {
                        let Some(line) = self.dec.push(b).map(|l| l.map(str::to_owned)) else {
                            continue;
                        };
                        self.dec.clear_line();
                        let Ok(line) = line else { continue };
                        let (_, body) = parse_frame(&line).expect("frame");
                        if let Ok(ToHarness::Event { event, .. }) = ToHarness::parse(body) {
                            self.inv.event(&event, now);
                            self.events.push((now, event));
                        }
                    }
                }
                RigOutput::Measurement(Measurement::Truth(truth)) => {
                    match truth {
                        Truth::Door { compartment, open } => self.door_open[compartment] = open,
                        Truth::Bolt {
                            compartment,
                            retracted,
                        } => self.bolt_out[compartment] = retracted,
                        Truth::Package {
                            compartment,
                            present,
                        } => self.package[compartment] = present,
                        Truth::Power { .. } | Truth::Links { .. } => {}
                    }
                    self.inv.truth(truth, now);
                }
                RigOutput::Measurement(Measurement::Backoffice {
                    kind,
                    compartment,
                    value,
                    duplicate,
                    ..
                }) => {
                    self.inv.delivered(kind, compartment, value, duplicate);
                    if !duplicate {
                        self.records.push(kind);
                    }
                }
                RigOutput::Measurement(Measurement::Pulse { .. }) | RigOutput::Idle => {}
            }
        }
    }

    async fn wait(&mut self, d: Duration) {
        let t = self.now() + d;
        self.until(t).await;
    }

    async fn act(&mut self, a: FixtureAction) {
        self.rig.act(&a).await.expect("fixture");
        let now = self.now();
        self.inv.action(&a, now);
    }

    async fn keys(&mut self, code: &str) {
        for ch in code.chars().chain(['#']) {
            self.act(FixtureAction::Key(ch)).await;
            self.wait(ms(100)).await;
        }
    }

    async fn door(&mut self, action: DoorAction) {
        self.act(FixtureAction::Door {
            compartment: C,
            action,
        })
        .await;
    }

    async fn package(&mut self, action: PackageAction) {
        self.act(FixtureAction::Package {
            compartment: C,
            action,
        })
        .await;
    }

    /// Wait up to `within` for the door to be open.
    async fn opened(&mut self, within: Duration) -> bool {
        let end = self.now() + within;
        while !self.door_open[C] && self.now() < end {
            self.wait(ms(10)).await;
        }
        self.door_open[C]
    }

    /// Wait until the self-test that ends a boot after `since` is done.
    async fn booted(&mut self, since: Duration) -> bool {
        let end = self.now() + Duration::from_secs(15);
        loop {
            let done = self.events.iter().any(|(at, e)| {
                *at >= since
                    && matches!(
                        e,
                        Event::Diag {
                            item: DiagItem::Done,
                            ..
                        }
                    )
            });
            if done || self.now() >= end {
                return done;
            }
            self.wait(ms(10)).await;
        }
    }

    fn window(&self) -> u64 {
        codes::window_of(self.rig.true_unix_ms() / 1000)
    }

    fn service_code(&self, kind: u8, arg: u8) -> String {
        let mac = codes::service_mac(&self.cfg.key, self.cfg.station, kind, arg, self.window());
        format!("{kind}{arg}{}", std::str::from_utf8(&mac).unwrap())
    }

    fn pickup_code(&self, parcel: u32) -> String {
        let code = codes::pickup_code(
            &self.cfg.key,
            self.cfg.station,
            C as u8,
            parcel,
            self.window(),
        );
        std::str::from_utf8(&code).unwrap().to_owned()
    }

    /// Type `code`, and once the door opens do `action` and shut it.
    /// Whether the package was handled.
    async fn transact(&mut self, code: &str, action: PackageAction) -> bool {
        self.keys(code).await;
        if !self.opened(Duration::from_secs(3)).await {
            return false;
        }
        self.package(action).await;
        self.wait(ms(300)).await;
        self.door(DoorAction::Push).await;
        self.wait(Duration::from_secs(2)).await;
        true
    }

    /// A parcel in `C`, dropped off by a courier: its number.
    async fn stock(&mut self) -> u32 {
        let code = self.service_code(codes::SERVICE_DROPOFF, C as u8);
        assert!(self.transact(&code, PackageAction::In).await, "drop-off");
        self.events
            .iter()
            .rev()
            .find_map(|(_, e)| match e {
                Event::Dropoff { parcel, .. } => Some(*parcel),
                _ => None,
            })
            .expect("a drop-off event")
    }
}

/// The code of the transaction, after whatever setup it needs.
async fn set_up<R: Rig>(d: &mut Drive<R>, kind: Kind) -> String {
    match kind {
        Kind::Pickup => {
            let parcel = d.stock().await;
            d.pickup_code(parcel)
        }
        Kind::Dropoff => d.service_code(codes::SERVICE_DROPOFF, C as u8),
        Kind::Return => d.service_code(codes::SERVICE_RETURN, 2),
        Kind::Collect => {
            // Left behind by its customer: it waits for the courier.
            let parcel = d.stock().await;
            let code = d.pickup_code(parcel);
            d.keys(&code).await;
            assert!(d.opened(Duration::from_secs(3)).await);
            d.door(DoorAction::Push).await;
            d.wait(Duration::from_secs(2)).await;
            d.service_code(codes::SERVICE_COLLECT, 0)
        }
    }
}

/// One run of `kind` with `cut` at `at` after its first key (none: the
/// uncut run). Gives the controller's events during the transaction, at
/// their instants relative to its first key, and what went wrong.
async fn run<R: Rig>(
    rig: R,
    desc: &RigDescription,
    kind: Kind,
    cut: Option<(Duration, PowerAction)>,
) -> (Vec<(Duration, Event)>, Vec<String>) {
    let mut d = Drive::new(rig, desc).await;
    let code = set_up(&mut d, kind).await;
    let start = d.now();
    let seen_before = d.events.len();
    d.cut = cut.map(|(at, p)| (start + at, p));
    let mut handled = d.transact(&code, kind.package()).await;
    let end = d.now();
    let during = (d.events[seen_before..].iter())
        .map(|(at, e)| (*at - start, e.clone()))
        .collect();
    if cut.is_some() {
        // Whatever the cut left undone, the customer finishes.
        d.wait(Duration::from_secs(3)).await;
        assert!(
            d.booted(end.min(start)).await,
            "the controller never came back"
        );
        for _ in 0..2 {
            if d.door_open[C] {
                if !handled {
                    d.package(kind.package()).await;
                    handled = true;
                }
                d.door(DoorAction::Push).await;
                d.wait(Duration::from_secs(2)).await;
            }
            if !handled {
                handled = d.transact(&code, kind.package()).await;
            }
        }
    }
    let mut wrong = Vec::new();
    if !handled {
        wrong.push("the door never opened for the customer".to_owned());
    }
    // Long enough with power and links for every record to go out.
    d.wait(Duration::from_secs(70)).await;
    // No setup makes a record of the transaction's own kind.
    let events = (d.events.iter()).filter(|(_, e)| kind.event_is(e)).count();
    let records = (d.records.iter()).filter(|k| **k == kind.record()).count();
    if (events, records) != (1, 1) {
        wrong.push(format!(
            "{kind:?} happened {events} time(s) on the console and {records} at the back office, not once"
        ));
    }
    let inside = kind.package() == PackageAction::In;
    if d.package[C] != inside {
        wrong.push(format!(
            "the package is {}in the compartment",
            if d.package[C] { "" } else { "not " }
        ));
    }
    if let Some(i) = (0..d.door_open.len()).find(|&i| d.door_open[i] || d.bolt_out[i]) {
        wrong.push(format!("compartment {i} is left open or unlatched"));
    }
    let now = d.now();
    if let Some(v) = d.inv.finish(now) {
        wrong.push(v);
    }
    // The code is spent.
    let typed = d.events.len();
    d.keys(&code).await;
    d.wait(ms(500)).await;
    let verdict = d.events[typed..].iter().find_map(|(_, e)| match e {
        Event::Code { result, .. } => Some(*result),
        _ => None,
    });
    if verdict != Some(kind.spent()) {
        wrong.push(format!(
            "the code typed again got {verdict:?}, not {:?}",
            kind.spent()
        ));
    }
    d.rig.release();
    (during, wrong)
}

/// The instants to cut at: every event of the uncut transaction, and every
/// `STEP` from its first key to its last event.
fn instants(events: &[Duration]) -> Vec<Duration> {
    let last = events.iter().max().copied().unwrap_or_default();
    let mut all: Vec<Duration> = (0..)
        .map(|n| STEP * n)
        .take_while(|t| *t <= last)
        .chain(events.iter().copied())
        .collect();
    all.sort();
    all.dedup();
    all
}

const CUTS: [(&str, PowerAction); 2] = [
    (
        "power cut",
        PowerAction::Cycle {
            off_for: Duration::from_secs(1),
        },
    ),
    (
        "brownout",
        PowerAction::Brownout {
            volts: 5.0,
            for_: Duration::from_millis(300),
        },
    ),
];

async fn sweep<R: Rig>(
    make: impl Fn() -> R,
    desc: &RigDescription,
    kinds: &[Kind],
    sample: Option<usize>,
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut runs = 0;
    for &kind in kinds {
        let (during, wrong) = run(make(), desc, kind, None).await;
        assert!(wrong.is_empty(), "{kind:?} uncut: {wrong:?}");
        let events: Vec<Duration> = during.iter().map(|(t, _)| *t).collect();
        let mut at = instants(&events);
        if let Some(n) = sample {
            // The instants that matter most (the code accepted, the bolt
            // released, the door open, the transaction done), then evenly
            // over the rest of the transaction.
            let mut picked: Vec<Duration> = (during.iter())
                .filter(|(_, e)| {
                    matches!(
                        e,
                        Event::Code { .. }
                            | Event::Lock { .. }
                            | Event::Door { .. }
                            | Event::Pickup { .. }
                            | Event::Dropoff { .. }
                            | Event::Return { .. }
                            | Event::Collected { .. }
                    )
                })
                .map(|(t, _)| *t)
                .collect();
            picked.dedup();
            let stride = (at.len() / n.max(1)).max(1);
            picked.extend(
                at.iter()
                    .step_by(stride)
                    .copied()
                    .filter(|t| !picked.contains(t))
                    .collect::<Vec<_>>(),
            );
            picked.truncate(n);
            picked.sort();
            at = picked;
        }
        for t in at {
            for (name, cut) in CUTS {
                runs += 1;
                let (_, wrong) = run(make(), desc, kind, Some((t, cut))).await;
                for w in wrong {
                    failures.push(format!("{kind:?}, {name} at +{}ms: {w}", t.as_millis()));
                }
            }
        }
    }
    (runs, failures)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn every_transaction_survives_a_cut_at_every_instant_on_sim() {
    let desc = RigDescription::load(&repo().join("rigs/sim.yaml")).unwrap();
    let (runs, failures) =
        runtime().block_on(sweep(|| SimRig::new(desc.clone()), &desc, &Kind::ALL, None));
    assert!(runs > 200, "only {runs} cuts");
    assert!(
        failures.is_empty(),
        "{} of {runs} cuts broke a promise:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_pickup_survives_a_sample_of_cuts_on_qemu() {
    if !common::qemu_available() {
        return;
    }
    let desc = RigDescription::load(&repo().join("rigs/qemu.yaml")).unwrap();
    let (runs, failures) = runtime().block_on(sweep(
        || locker_hil::rigs::qemu::QemuRig::new(desc.clone()).unwrap(),
        &desc,
        &[Kind::Pickup],
        Some(8),
    ));
    assert!(runs >= 10, "only {runs} cuts");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
