;; A WASI preview1 "adapter" with no imports, for Go plugins.
;;
;; `GOOS=wasip1` programs import these wasi_snapshot_preview1 functions from the Go
;; runtime even when the plugin uses none of them. Adapting with the real preview1
;; adapter turns them into wasi:cli / wasi:clocks / wasi:filesystem / wasi:random
;; imports, which Sluice refuses unless a pipeline grants them. This module satisfies
;; them locally instead (like componentize-py's --stub-wasi), so the component imports
;; only what its WIT world names:
;;   - no arguments, no environment, no preopened directories;
;;   - stdout/stderr writes are accepted and dropped (plugins log through sluice:plugin/log);
;;   - reads fail (no file descriptors);
;;   - clocks are a counter that advances 1 µs per read (and by the timeout of a sleep),
;;     so time-based code runs but is deterministic;
;;   - random bytes come from a fixed-seed xorshift generator (NOT cryptographic: Go
;;     uses them for map hash seeds; plugins must not rely on them for secrets);
;;   - proc_exit traps.
(module
  (import "env" "memory" (memory 0))

  (global $clock (mut i64) (i64.const 1700000000000000000))
  (global $rng (mut i64) (i64.const 0x2545f4914f6cdd1d))

  (func (export "sched_yield") (result i32) (i32.const 0))

  (func (export "proc_exit") (param i32) (unreachable))

  (func (export "args_get") (param i32 i32) (result i32) (i32.const 0))
  (func (export "args_sizes_get") (param $argc i32) (param $size i32) (result i32)
    (i32.store (local.get $argc) (i32.const 0))
    (i32.store (local.get $size) (i32.const 0))
    (i32.const 0))

  (func (export "environ_get") (param i32 i32) (result i32) (i32.const 0))
  (func (export "environ_sizes_get") (param $count i32) (param $size i32) (result i32)
    (i32.store (local.get $count) (i32.const 0))
    (i32.store (local.get $size) (i32.const 0))
    (i32.const 0))

  (func (export "clock_time_get") (param $id i32) (param $precision i64) (param $out i32) (result i32)
    (global.set $clock (i64.add (global.get $clock) (i64.const 1000)))
    (i64.store (local.get $out) (global.get $clock))
    (i32.const 0))

  ;; Pretends every byte was written.
  (func (export "fd_write") (param $fd i32) (param $iovs i32) (param $n i32) (param $written i32) (result i32)
    (local $total i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $total (i32.add (local.get $total) (i32.load offset=4 (local.get $iovs))))
        (local.set $iovs (i32.add (local.get $iovs) (i32.const 8)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $written) (local.get $total))
    (i32.const 0))

  (func (export "random_get") (param $buf i32) (param $len i32) (result i32)
    (local $x i64)
    (local.set $x (global.get $rng))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $len)))
        ;; xorshift64
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 13))))
        (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 7))))
        (local.set $x (i64.xor (local.get $x) (i64.shl (local.get $x) (i64.const 17))))
        (i32.store8 (local.get $buf) (i32.wrap_i64 (local.get $x)))
        (local.set $buf (i32.add (local.get $buf) (i32.const 1)))
        (local.set $len (i32.sub (local.get $len) (i32.const 1)))
        (br $next)))
    (global.set $rng (local.get $x))
    (i32.const 0))

  ;; Every subscription fires at once; a clock subscription moves the clock forward
  ;; by its timeout, so a sleeping Go scheduler wakes up without waiting.
  ;; subscription (48 bytes): userdata u64 @0, tag u8 @8, clock timeout u64 @24.
  ;; event (32 bytes): userdata u64 @0, error u16 @8, type u8 @10.
  (func (export "poll_oneoff") (param $in i32) (param $out i32) (param $n i32) (param $nevents i32) (result i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u offset=8 (local.get $in)))
          (then (global.set $clock (i64.add (global.get $clock) (i64.load offset=24 (local.get $in))))))
        (i64.store (local.get $out) (i64.load (local.get $in)))
        (i32.store16 offset=8 (local.get $out) (i32.const 0))
        (i32.store8 offset=10 (local.get $out) (i32.load8_u offset=8 (local.get $in)))
        (local.set $in (i32.add (local.get $in) (i32.const 48)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.store (local.get $nevents) (local.get $n))
    (i32.const 0))

  ;; No file descriptors exist: EBADF (8). (Reads come in with os.Stdin, which
  ;; encoding/json's dependencies keep reachable.)
  (func (export "fd_read") (param i32 i32 i32 i32) (result i32) (i32.const 8))
  (func (export "fd_close") (param i32) (result i32) (i32.const 8))
  (func (export "fd_fdstat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_fdstat_set_flags") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_get") (param i32 i32) (result i32) (i32.const 8))
  (func (export "fd_prestat_dir_name") (param i32 i32 i32) (result i32) (i32.const 8))
)
