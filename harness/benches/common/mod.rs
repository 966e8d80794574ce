//! What the benchmarks share: the repository, the statistics line, and the
//! qemu rig's boot to banner.
#![allow(dead_code)]

use locker_hil::model::rigfile::RigDescription;
use locker_hil::rigs::qemu::QemuRig;
use locker_hil::rigs::{FlashReport, Rig, RigOutput};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new(".."))
        .to_path_buf()
}

pub fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let total: Duration = v.iter().sum();
    format!(
        "n={} min={:.1}ms median={:.1}ms p90={:.1}ms max={:.1}ms mean={:.1}ms",
        v.len(),
        ms(v[0]),
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1]),
        ms(total) / v.len() as f64
    )
}

/// Boot the qemu rig `n` times: from the moment the harness asks for power
/// to the firmware's `HELLO` line in hand (QEMU starting, both sockets, the
/// board's `READY`, provisioning, the EEPROM image, the boot itself).
pub fn boot_to_banner(
    rt: &tokio::runtime::Runtime,
    desc: &RigDescription,
    n: usize,
) -> Result<(FlashReport, Vec<Duration>), Box<dyn std::error::Error>> {
    let mut rig = QemuRig::for_worker(desc.clone(), 0)?;
    let flash = rt.block_on(rig.flash())?;
    let mut times = Vec::new();
    for seed in 0..n as u64 {
        let t = Instant::now();
        rt.block_on(async {
            rig.prepare(seed).await?;
            loop {
                match rig.recv(Duration::from_secs(1)).await? {
                    RigOutput::Console(bytes) if bytes.windows(5).any(|w| w == b"HELLO") => {
                        break;
                    }
                    _ => {}
                }
            }
            Ok::<_, locker_hil::rigs::RigError>(())
        })?;
        times.push(t.elapsed());
        rig.release();
    }
    Ok((flash, times))
}
