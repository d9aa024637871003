use super::*;
use crate::access::format::Request;

/// The start of a minute.
const T0: i64 = 1_800_000_000_000;

fn req(status: u16, us: u64) -> Request<'static> {
    Request {
        method: b"GET",
        path: b"/orders/1",
        status,
        bytes: 1,
        duration_us: Some(us),
        thread: Some(b"http-nio-8080-exec-1"),
    }
}

#[test]
fn a_point_costs_what_the_docs_say() {
    assert_eq!(std::mem::size_of::<Point>(), POINT_BYTES);
}

#[test]
fn buckets_cover_u32_and_their_tops_are_in_them() {
    for us in [
        0u32,
        1,
        3,
        4,
        5,
        7,
        8,
        100,
        1_000,
        65_535,
        1 << 20,
        u32::MAX - 1,
        u32::MAX,
    ] {
        let b = bucket(us);
        assert!(b < BUCKETS, "{us}");
        assert!(bucket_top(b) >= us, "{us}: top {}", bucket_top(b));
        assert_eq!(bucket(bucket_top(b)), b, "{us}");
    }
    // Within 25% (4 buckets per power of two).
    assert!(bucket_top(bucket(1_000_000)) < 1_250_000);
}

/// 100,000 requests in a minute: never more than the bound, every one counted as kept or sampled out; the slow
/// or failed (more of them than the bound) take half the room, the others' uniform sample the rest.
#[test]
fn the_bound_holds_under_100k_requests_a_minute() {
    let mut r = Reservoir::new(600);
    let mut rng = fastrand::Rng::with_seed(7);
    for i in 0..100_000u64 {
        let status = if rng.u32(..100) == 0 { 503 } else { 200 };
        r.record(
            &req(status, rng.u64(1_000..1_000_000)),
            T0 + (i * 59_999 / 100_000) as i64,
        );
    }
    assert_eq!(r.len(), 600);
    assert_eq!(r.seen, 100_000);
    assert_eq!(r.seen - r.sampled_out, 600);
    let th = r.threshold_us();
    // Uniform over 1 ms .. 1 s, 150 of 100,000 slower: 998.5 ms.
    assert!(th > 990_000 && th < 1_000_000, "threshold {th}");
    let m = &r.minutes[0];
    assert_eq!(m.pri, 300);
    let (fails, slow) = m.points[..300].iter().fold((0, 0), |(f, s), p| {
        (
            f + usize::from(p.status >= 500),
            s + usize::from(p.duration_us > 850_000),
        )
    });
    assert_eq!(
        fails + slow,
        300 + m.points[..300]
            .iter()
            .filter(|p| p.status >= 500 && p.duration_us > 850_000)
            .count()
    );
    // 1,000 failed and the slow (about 150 once the rate is known, more before) share 300 places.
    assert!((120..290).contains(&fails), "{fails} failed of 300");
    assert!((10..180).contains(&slow), "{slow} slow of 300");
    // The others: spread over 1 ms .. 1 s, about half under 500 ms.
    let fast = m.points[300..]
        .iter()
        .filter(|p| p.duration_us < 500_000)
        .count();
    assert!((100..200).contains(&fast), "{fast} of 300 under 500 ms");
    // Ten more minutes: never more than MINUTES buffers, whatever the rate.
    for k in 1..=12i64 {
        for i in 0..20_000i64 {
            r.record(&req(200, 5_000), T0 + k * 60_000 + i % 60_000);
        }
    }
    assert!(r.minutes.len() <= MINUTES);
    assert!(r.len() <= MINUTES * 600);
    // The memory itself, not only the count: no buffer past the bound.
    assert!(r.minutes.iter().all(|m| m.points.capacity() <= 600));
    assert!(
        r.points(0, T0 + 12 * 60_000)
            .all(|p| p.end_ms > T0 + 2 * 60_000)
    );
}

/// While the slow and failed requests fit in half the bound, every one of them is kept, and the rest of the
/// room goes to a uniform sample of the others.
#[test]
fn slow_and_failed_requests_are_kept_first() {
    let mut r = Reservoir::new(600);
    let mut rng = fastrand::Rng::with_seed(11);
    // A minute of ordinary traffic sets the p95 near 10 ms.
    for i in 0..5_000i64 {
        r.record(&req(200, rng.u64(1_000..10_000)), T0 + i % 60_000);
    }
    // The next: 5,000 requests of which 63 failed (fast) and 100 slow (2 s), spread through the minute. The slow
    // ones' bar is the top 150 a minute (a quarter of the bound): the 100 and some ordinary ones.
    let (mut fails, mut slows) = (0, 0);
    for i in 0..5_000i64 {
        let t = T0 + 60_000 + i * 12;
        if i % 80 == 7 {
            r.record(&req(500, 2_000), t);
            fails += 1;
        } else if i % 33 == 5 && slows < 100 {
            r.record(&req(200, 2_000_000), t);
            slows += 1;
        } else {
            r.record(&req(200, rng.u64(1_000..10_000)), t);
        }
    }
    let m = r.minutes.back().unwrap();
    assert_eq!(m.points.len(), 600);
    let kept_fail = m.points.iter().filter(|p| p.status == 500).count();
    let kept_slow = m
        .points
        .iter()
        .filter(|p| p.duration_us == 2_000_000)
        .count();
    assert_eq!((kept_fail, kept_slow), (fails, slows));
    assert!(m.pri <= 300, "{}", m.pri);
    // The others are spread over the minute, not the first ones read.
    let others: Vec<&Point> = m.points[m.pri..].iter().collect();
    let late = others
        .iter()
        .filter(|p| p.end_ms > T0 + 60_000 + 30_000)
        .count();
    let share = late as f64 / others.len() as f64;
    assert!(
        (0.35..0.65).contains(&share),
        "{late} of {} in the second half",
        others.len()
    );
}

#[test]
fn paths_and_threads_are_cut_at_a_character() {
    let long = "/é".repeat(50);
    let thread = "ü".repeat(40);
    let r = Request {
        method: b"BREW",
        path: long.as_bytes(),
        status: 200,
        duration_us: Some(u64::MAX),
        thread: Some(thread.as_bytes()),
        ..Default::default()
    };
    let mut s = Reservoir::new(10);
    s.record(&r, T0);
    s.record(
        &Request {
            duration_us: None,
            ..r.clone()
        },
        T0,
    );
    let p: Vec<&Point> = s.points(0, T0).collect();
    assert_eq!(p.len(), 1);
    assert!(p[0].path().ends_with('…') && !p[0].path().contains('\u{FFFD}'));
    assert!(p[0].path().len() <= PATH_MAX + 3);
    assert_eq!(p[0].thread().unwrap(), "ü".repeat(16));
    assert_eq!((p[0].method(), p[0].duration_us), ("OTHER", u32::MAX));
}

#[test]
fn the_registry_shares_an_app_bounds_answers_and_forgets_idle_apps() {
    let s = Scatter::new(5);
    let a = s.reservoir("shop");
    let b = s.reservoir("shop");
    assert!(Arc::ptr_eq(&a, &b));
    let now = crate::util::clock::now_ms();
    for i in 0..20 {
        lock(&a).record(&req(200, 1_000 + i), now);
    }
    lock(&s.reservoir("edge")).record(&req(200, 1), now - WINDOW_MS - 1);
    let (apps, cut) = s.points(None, 0, now, 3);
    assert!(cut);
    assert_eq!(apps.iter().map(|a| a.points.len()).sum::<usize>(), 3);
    let c = s.counts();
    assert_eq!((c[0].points, c[0].seen, c[0].sampled_out), (5, 20, 15));
    // A lower bound applies at once.
    s.set_per_minute(2);
    assert_eq!(lock(&a).len(), 2);
    // `edge` has no log and nothing in the window: forgotten at the next look-up.
    let _ = s.reservoir("shop");
    assert_eq!(s.counts().len(), 1);
}

proptest::proptest! {
    #[test]
    fn recording_never_panics(
        reqs in proptest::collection::vec(
            (proptest::num::u16::ANY, proptest::option::of(proptest::num::u64::ANY),
             proptest::collection::vec(proptest::num::u8::ANY, 0..300), -200_000i64..200_000, 1usize..8),
            0..200),
    ) {
        let mut r = Reservoir::new(3);
        for (status, us, path, dt, n) in &reqs {
            if *n == 7 {
                r.set_per_minute(*n);
            }
            r.record(&Request { method: path, path, status: *status, bytes: 0, duration_us: *us, thread: Some(path) },
                T0 + dt);
            for p in r.points(i64::MIN, T0 + dt) {
                let _ = (p.path(), p.thread(), p.method());
            }
        }
        proptest::prop_assert!(r.len() <= MINUTES * 7);
        proptest::prop_assert!(r.minutes.iter().all(|m| m.points.capacity() <= 7));
    }
}
