//! Hot paths of the protocol crate: masking beside memcpy, UTF-8 validation, frame header
//! parse and encode. Names and inputs come from `mywebsocket_bench::micro`, which the report
//! reads back.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mywebsocket_bench::micro::{mixed_text, BUF_LEN};
use mywebsocket_proto::{apply_mask, FrameHeader, OpCode, Utf8Validator, MAX_HEADER_LEN};

fn masking(c: &mut Criterion) {
    let mut group = c.benchmark_group("mask");
    group.throughput(Throughput::Bytes(BUF_LEN as u64));
    let mut buf = vec![0x5a_u8; BUF_LEN];
    group.bench_function("apply_mask_64k", |b| {
        b.iter(|| apply_mask(black_box(&mut buf), black_box([1, 2, 3, 4]), 0));
    });
    let src = vec![0xa5_u8; BUF_LEN];
    let mut dst = vec![0_u8; BUF_LEN];
    group.bench_function("memcpy_64k", |b| {
        b.iter(|| black_box(&mut dst).copy_from_slice(black_box(&src)));
    });
    group.finish();
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    group.throughput(Throughput::Bytes(BUF_LEN as u64));
    let ascii = vec![b'a'; BUF_LEN];
    let mixed = mixed_text(BUF_LEN);
    for (id, text) in [("ascii_64k", &ascii), ("mixed_64k", &mixed)] {
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut validator = Utf8Validator::new();
                validator.feed(black_box(text)).expect("valid UTF-8");
                validator.finish().expect("complete")
            });
        });
    }
    group.finish();
}

fn header(c: &mut Criterion) {
    let mut group = c.benchmark_group("header");
    let small = FrameHeader::new(OpCode::Binary, 16);
    let mut large = FrameHeader::new(OpCode::Binary, 1 << 32);
    large.mask = Some([1, 2, 3, 4]);
    for (id, header) in [("small", small), ("masked_64bit", large)] {
        let mut wire = [0; MAX_HEADER_LEN];
        let len = header.encode(&mut wire);
        group.bench_function(format!("parse_{id}"), |b| {
            b.iter(|| FrameHeader::parse(black_box(&wire[..len])));
        });
        group.bench_function(format!("encode_{id}"), |b| {
            let mut out = [0; MAX_HEADER_LEN];
            b.iter(|| black_box(&header).encode(black_box(&mut out)));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = micro;
    config = config();
    targets = masking, utf8, header
}
criterion_main!(micro);
