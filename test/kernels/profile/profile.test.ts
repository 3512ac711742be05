/**
 * Profile import: Kineto Chrome traces (plain and gzip; overlapping, nested and unknown kernels; op-launched GEMMs)
 * and Nsight Compute CSV exports (details and raw pages), written here in the real formats.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { importProfile, matchRule, parseCsv, ncuNumber, KERNEL_STAGE_RULES, classifyKernels, type KernelRecord } from '../../../kernels/profile';
import { MoeError } from '../../../kernels/errors';

const dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const err = (code: string, re: RegExp) => (e: unknown): boolean => {
  assert.ok(e instanceof MoeError, String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  assert.ok(!e.message.includes('\n'));
  return true;
};

const DG = (type: number): string =>
  `void deep_gemm::sm90_fp8_gemm_1d2d_impl<0u, 4096u, 7168u, 32u, 128u, 192u, 128u, 4u, 2u, 128u, 256u, true, (deep_gemm::GemmType)${type}, deep_gemm::EpilogueIdentity>(float*, int*, unsigned int, unsigned int, unsigned int, CUtensorMap_st, CUtensorMap_st, CUtensorMap_st, CUtensorMap_st)`;
const QUANT = 'void vllm::per_token_group_quant_8bit_kernel<c10::BFloat16, c10::Float8_e4m3fn, true, false, float>(c10::BFloat16 const*, void*, float*, int, int, int, float, float, float, int, int)';
const SILU = 'void vllm::act_and_mul_kernel<c10::BFloat16, &vllm::silu_kernel<c10::BFloat16>, true>(c10::BFloat16*, c10::BFloat16 const*, int)';
const UNKNOWN = 'void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, at::detail::Array<char*, 1> >(int, at::native::FillFunctor<float>, at::detail::Array<char*, 1>)';
const CUTLASS = 'void cutlass::device_kernel<at::cuda::detail::enable_3x_kernel_for_sm9x<cutlass::gemm::kernel::GemmUniversal<cutlass::gemm::MoEProblemShape<int>, float> > >(Params)';

/** a Kineto trace: CPU ops and launches on pid 100 / tid 1, GPU kernels on pid 0 / tid 7 (stream 7) */
function kinetoTrace(): unknown {
  const ev: unknown[] = [
    { ph: 'M', name: 'process_name', pid: 0, tid: 0, args: { name: 'GPU 0' } },
    { ph: 'X', cat: 'python_function', name: 'fused_experts', pid: 100, tid: 1, ts: 0, dur: 5000 },
  ];
  let corr = 1;
  const kernel = (name: string, ts: number, dur: number, extra: Record<string, unknown> = {}, cat = 'kernel'): void => {
    const c = corr++;
    ev.push({ ph: 'X', cat: 'cuda_runtime', name: 'cudaLaunchKernel', pid: 100, tid: 1, ts: ts - 50, dur: 4, args: { correlation: c } });
    ev.push({ ph: 'X', cat, name, pid: 0, tid: 7, ts, dur, args: { queued: 0, device: 0, context: 1, stream: 7, correlation: c, 'registers per thread': 168, 'shared memory': 232448, grid: [132, 1, 1], block: [384, 1, 1], ...extra } });
    ev.push({ ph: 'f', id: c, pid: 0, tid: 7, ts, cat: 'ac2g', name: 'ac2g', bp: 'e' });
  };
  kernel(QUANT, 1000, 20);
  kernel('_fwd_kernel_ep_scatter_1', 1030, 5);
  kernel('_fwd_kernel_ep_scatter_2', 1040, 12);
  kernel('void deep_gemm::transpose_fp32<128u, 112u>(float const*, float*, unsigned int)', 1060, 3);
  kernel(DG(1), 1070, 441);
  kernel(SILU, 1520, 30);
  kernel(QUANT, 1555, 10);
  // PDL: GEMM2 starts before the requantization has finished (overlap on one stream); a kernel nested inside it
  kernel(DG(1), 1560, 269);
  kernel(UNKNOWN, 1600, 2);
  kernel('_fwd_kernel_ep_gather', 1835, 25);
  kernel(DG(0), 2000, 100);
  kernel('Memcpy DtoD (Device -> Device)', 2110, 4, {}, 'gpu_memcpy');
  // torch._scaled_grouped_mm: the kernel name says little; the launching op says what it is
  ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::_scaled_grouped_mm', pid: 100, tid: 1, ts: 2140, dur: 60 });
  ev.push({ ph: 'X', cat: 'cpu_op', name: 'aten::empty', pid: 100, tid: 1, ts: 2145, dur: 2 });
  kernel(CUTLASS, 2200, 300);
  return { schemaVersion: 1, deviceProperties: [{ id: 0, name: 'NVIDIA H200' }], traceEvents: ev, displayTimeUnit: 'ms' };
}

test('Kineto trace: stages by name and order, GEMM1/GEMM2 and quantize/requantize by position, nothing dropped', () => {
  const p = join(dir, 'trace.json');
  writeFileSync(p, JSON.stringify(kinetoTrace()));
  const r = importProfile(p);
  assert.equal(r.format, 'chrome-trace');
  assert.equal(r.kernels.length, 13, 'every GPU event kept');
  const st = Object.fromEntries(r.stages.map((s) => [s.stage, s]));
  assert.deepEqual(Object.keys(st), ['quantize', 'transform_scales', 'permute', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute', 'other']);
  assert.deepEqual([st.quantize!.count, st.quantize!.totalUs], [1, 20]);
  assert.deepEqual([st.requantize!.count, st.requantize!.totalUs], [1, 10]);
  assert.deepEqual([st.permute!.count, st.permute!.totalUs, st.permute!.meanUs], [2, 17, 8.5]);
  assert.deepEqual([st.gemm1!.count, st.gemm1!.totalUs], [2, 441 + 300], 'DeepGEMM GEMM1 and the CUTLASS grouped GEMM below');
  // the second DeepGEMM launch is GEMM2 (it follows the activation and requantization); the op-launched CUTLASS
  // grouped GEMM comes after the un-permute, so it starts a new layer: GEMM1
  assert.deepEqual([st.gemm2!.count, st.gemm2!.totalUs], [1, 269]);
  assert.equal(st.unpermute!.totalUs, 25);
  // dense DeepGEMM (GemmType 0) and the memcpy are "other"
  assert.equal(st.other!.count, 2);
  const cut = r.kernels.find((k) => k.name === CUTLASS)!;
  assert.deepEqual(cut.ops, ['aten::_scaled_grouped_mm', 'fused_experts'], 'innermost op first (aten::empty ended before the launch)');
  assert.equal(cut.stage, 'gemm1');
  assert.match(cut.rule!, /torch\._scaled_grouped_mm/);
  assert.deepEqual(r.unmatched, [{ name: UNKNOWN, count: 1, totalUs: 2 }]);
  // overlap kept: requantize [1555, 1565) overlaps GEMM2 [1560, 1829), the unknown kernel nests inside GEMM2
  assert.equal(st.gemm2!.wallUs, 269);
  assert.equal(r.kernels.find((k) => k.name === QUANT && k.startUs === 1555)!.stage, 'requantize');
  assert.equal(st.gemm1!.kernels[0], DG(1));
  // Kineto's launch figures come along
  assert.equal(r.kernels[0]!.metrics!.registers, 168);
});

test('overlapping launches of one stage: total counts both, wall time is their union', () => {
  const ev = [
    { ph: 'X', cat: 'kernel', name: 'fused_moe_kernel', pid: 0, tid: 7, ts: 0, dur: 100, args: { stream: 7, device: 0 } },
    { ph: 'X', cat: 'kernel', name: 'fused_moe_kernel', pid: 0, tid: 7, ts: 50, dur: 100, args: { stream: 7, device: 0 } },
    { ph: 'X', cat: 'kernel', name: 'fused_moe_kernel', pid: 0, tid: 7, ts: 60, dur: 10, args: { stream: 7, device: 0 } },
  ];
  const p = join(dir, 'overlap.json');
  writeFileSync(p, JSON.stringify(ev));
  const r = importProfile(p);
  // no context: GEMMs alternate 1, 2, 1
  assert.deepEqual(r.kernels.map((k) => k.stage), ['gemm1', 'gemm2', 'gemm1']);
  const g1 = r.stages.find((s) => s.stage === 'gemm1')!;
  assert.equal(g1.totalUs, 110);
  assert.equal(g1.wallUs, 100, 'the nested launch adds no wall time');
});

test('gzip traces (.json.gz, or any name) inflate; a non-JSON file, a JSON without traceEvents and an empty trace are one-line errors', () => {
  const gz = join(dir, 'trace.pt.trace.json.gz');
  writeFileSync(gz, gzipSync(JSON.stringify(kinetoTrace())));
  const r = importProfile(gz);
  assert.equal(r.kernels.length, 13);
  assert.equal(r.stages.find((s) => s.stage === 'gemm1')!.totalUs, 441 + 300);

  const junk = join(dir, 'notes.txt');
  writeFileSync(junk, 'this is not a trace\n');
  assert.throws(() => importProfile(junk), err('E_FORMAT', /notes\.txt: not a Chrome trace JSON \(.*\); import a torch\.profiler trace \(\.json or \.json\.gz\) or an ncu --csv export/));
  const broken = join(dir, 'broken.json');
  writeFileSync(broken, '{"traceEvents": [ {"ph": "X"');
  assert.throws(() => importProfile(broken), err('E_FORMAT', /broken\.json: not a Chrome trace JSON/));
  const obj = join(dir, 'obj.json');
  writeFileSync(obj, '{"hello": 1}');
  assert.throws(() => importProfile(obj), err('E_FORMAT', /obj\.json: JSON without a "traceEvents" list/));
  const cpuOnly = join(dir, 'cpu.json');
  writeFileSync(cpuOnly, JSON.stringify({ traceEvents: [{ ph: 'X', cat: 'cpu_op', name: 'aten::mm', pid: 1, tid: 1, ts: 0, dur: 5 }] }));
  assert.throws(() => importProfile(cpuOnly), err('E_FORMAT', /cpu\.json: no GPU kernels in this trace \(profile with activities=\[ProfilerActivity\.CUDA\]\)/));
  const badGz = join(dir, 'bad.json.gz');
  writeFileSync(badGz, Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]));
  assert.throws(() => importProfile(badGz), err('E_FORMAT', /bad\.json\.gz: looks gzip-compressed but does not inflate/));
  assert.throws(() => importProfile(join(dir, 'missing.json')), err('E_IO', /missing\.json: cannot read/));
});

const DETAILS_HEAD =
  '"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value","Rule Name","Rule Type","Rule Description","Estimated Speedup Type","Estimated Speedup"';
function detailsRow(id: number, kernel: string, section: string, metric: string, unit: string, value: string, rule = ''): string {
  const q = (s: string): string => `"${s.replace(/"/g, '""')}"`;
  return [id, 4242, 'python3', 'gpu-host', kernel, 1, 7, '(384, 1, 1)', '(132, 1, 1)', 0, '9.0', section, metric, unit, value, rule, rule ? 'OPT' : '', rule ? 'The kernel "x", has low occupancy' : '', '', '']
    .map((v) => q(String(v)))
    .join(',');
}
function launchRows(id: number, kernel: string, durUnit: string, dur: string, dram: string, sm: string, occ: string, regs: string, dynSmem: string): string[] {
  const SOL = 'GPU Speed Of Light Throughput';
  return [
    detailsRow(id, kernel, SOL, 'DRAM Frequency', 'Ghz', '3.20'),
    detailsRow(id, kernel, SOL, 'Duration', durUnit, dur),
    detailsRow(id, kernel, SOL, 'DRAM Throughput', '%', dram),
    detailsRow(id, kernel, SOL, 'Memory Throughput', '%', dram),
    detailsRow(id, kernel, SOL, 'Compute (SM) Throughput', '%', sm),
    detailsRow(id, kernel, 'SpeedOfLight', '', '', '', 'SOLBottleneck'),
    detailsRow(id, kernel, 'Memory Workload Analysis', 'Memory Throughput', 'Tbyte/second', '2.87'),
    detailsRow(id, kernel, 'Launch Statistics', 'Registers Per Thread', 'register/thread', regs),
    detailsRow(id, kernel, 'Launch Statistics', 'Static Shared Memory Per Block', 'byte/block', '0'),
    detailsRow(id, kernel, 'Launch Statistics', 'Dynamic Shared Memory Per Block', 'Kbyte/block', dynSmem),
    detailsRow(id, kernel, 'Occupancy', 'Achieved Occupancy', '%', occ),
  ];
}

test('ncu details page: per-launch metrics by name (units, thousands separators, quoted commas), duration-weighted stage means', () => {
  const lines = [
    '==PROF== Connected to process 4242 (/usr/bin/python3.12)',
    '==PROF== Profiling "per_token_group_quant_8bit_kernel": 0%....50%....100% - 9 passes',
    'some program output, with a comma',
    DETAILS_HEAD,
    ...launchRows(0, QUANT, 'usecond', '21.66', '71.20', '20.10', '80.5', '32', '0'),
    ...launchRows(1, DG(1), 'usecond', '429.18', '59.60', '86.70', '14.0', '168', '232.45'),
    ...launchRows(2, SILU, 'nsecond', '30,112', '80.00', '30.00', '70.0', '16', '0'),
    ...launchRows(3, QUANT, 'nsecond', '9,984', '60.00', '10.00', '75.0', '32', '0'),
    ...launchRows(4, DG(1), 'msecond', '0.27', '40.00', '80.00', '14.0', '154', '196.61'),
    ...launchRows(5, 'my_custom_kernel(float*, int)', 'usecond', '3.00', '1.00', '1.00', '10.0', '24', '0'),
  ];
  const p = join(dir, 'ncu-details.csv');
  writeFileSync(p, lines.join('\n') + '\n');
  const r = importProfile(p);
  assert.equal(r.format, 'ncu-details');
  assert.equal(r.kernels.length, 6);
  const st = Object.fromEntries(r.stages.map((s) => [s.stage, s]));
  assert.deepEqual(r.stages.map((s) => s.stage), ['quantize', 'gemm1', 'activation', 'requantize', 'gemm2']);
  assert.equal(st.gemm1!.totalUs, 429.18);
  assert.equal(st.gemm2!.totalUs, 270);
  assert.ok(Math.abs(st.activation!.totalUs - 30.112) < 1e-9, '30,112 ns');
  assert.ok(Math.abs(st.requantize!.totalUs - 9.984) < 1e-9);
  assert.deepEqual(st.gemm1!.ncu, { dramPct: 59.6, smPct: 86.7, memPct: 59.6, occupancyPct: 14, registers: [168, 168], sharedBytes: 232450 });
  assert.equal(st.gemm2!.ncu!.sharedBytes, 196610, 'Kbyte = 1000 bytes, static + dynamic');
  assert.deepEqual(r.unmatched.map((u) => [u.name, u.count, u.totalUs]), [['my_custom_kernel(float*, int)', 1, 3]]);
  assert.equal(r.kernels[1]!.stream, '7');
});

test('ncu raw page: one row per launch, a units row under the header; duration-weighted means across launches', () => {
  const head = ['ID', 'Process ID', 'Process Name', 'Host Name', 'Kernel Name', 'Context', 'Stream', 'Block Size', 'Grid Size', 'Device', 'CC', 'dram__throughput.avg.pct_of_peak_sustained_elapsed', 'gpu__time_duration.sum', 'launch__registers_per_thread', 'launch__shared_mem_per_block_dynamic', 'launch__shared_mem_per_block_static', 'sm__throughput.avg.pct_of_peak_sustained_elapsed', 'sm__warps_active.avg.pct_of_peak_sustained_active'];
  const units = ['', '', '', '', '', '', '', '', '', '', '', '%', 'usecond', 'register/thread', 'Kbyte/block', 'byte/block', '%', '%'];
  const row = (id: number, k: string, dram: string, dur: string, regs: string, sm: string): string[] => [String(id), '1', 'python3', 'h', k, '1', '7', '(128, 1, 1)', '(4096, 1, 1)', '0', '9.0', dram, dur, regs, '49.15', '0', sm, '18.0'];
  const rows = [head, units, row(0, 'groupedGemmWgmmaKernel<false>(unsigned char const*, float const*, int const*, unsigned char const*, float const*, int const*, __nv_bfloat16*, int, int, int, int)', '46.50', '947.00', '152', '44.90'), row(1, 'activationKernel(unsigned short const*, int, int, Activation, float, unsigned short*)', '80.00', '12.00', '32', '10.00'), row(2, 'groupedGemmWgmmaKernel<false>(…)', '40.00', '500.00', '152', '50.00'), row(3, 'groupedGemmWgmmaKernel<false>(…)', '20.00', '100.00', '152', '30.00')];
  const p = join(dir, 'ncu-raw.csv');
  writeFileSync(p, rows.map((r) => r.map((c) => `"${c}"`).join(',')).join('\n'));
  const r = importProfile(p);
  assert.equal(r.format, 'ncu-raw');
  assert.deepEqual(r.kernels.map((k) => k.stage), ['gemm1', 'activation', 'gemm2', 'gemm1']);
  const g1 = r.stages.find((s) => s.stage === 'gemm1')!;
  assert.equal(g1.count, 2);
  assert.equal(g1.totalUs, 1047);
  // duration-weighted: (46.5·947 + 20·100) / 1047
  assert.ok(Math.abs(g1.ncu!.dramPct! - (46.5 * 947 + 20 * 100) / 1047) < 1e-9);
  assert.equal(g1.ncu!.sharedBytes, 49150);
  assert.deepEqual(g1.ncu!.registers, [152, 152]);
  assert.equal(g1.ncu!.occupancyPct, 18);
});

test('CSV and number details: quoted commas, doubled quotes, CRLF; "n/a" is absent; a CSV without the ncu header is refused', () => {
  assert.deepEqual(parseCsv('"a,b","c""d",e\r\n1,"x\ny",3\n'), [['a,b', 'c"d', 'e'], ['1', 'x\ny', '3']]);
  assert.equal(ncuNumber('1,234,567.5'), 1234567.5);
  assert.equal(ncuNumber('n/a'), undefined);
  assert.equal(ncuNumber('1e3'), 1000);
  const p = join(dir, 'other.csv');
  writeFileSync(p, 'ID,Name\n1,foo\n');
  assert.throws(() => importProfile(p), err('E_FORMAT', /other\.csv: not a Chrome trace JSON|other\.csv: no Nsight Compute CSV header/));
});

test('the rule table covers every __global__ kernel of this project (kernels/native/*.cu) and the named peers', () => {
  const native = join(__dirname, '../../../kernels/native');
  const names = new Set<string>();
  for (const f of readdirSync(native).filter((n) => n.endsWith('.cu'))) {
    const src = readFileSync(join(native, f), 'utf8');
    for (const m of src.matchAll(/__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?(\w+)\s*\(/g)) names.add(m[1]!);
  }
  assert.ok(names.size >= 15, [...names].join(', '));
  for (const n of names) assert.ok(matchRule(`void ${n}(int*)`), `no rule for this project's kernel ${n}`);
  const peers: Array<[string, string]> = [
    ['void deep_gemm::sm100_fp8_fp4_gemm_1d1d_impl<...>(...)', 'gemm1|gemm2'],
    ['void deep_gemm::transpose_and_pack_fp32_into_ue8m0<128u>(float*, unsigned int*, unsigned int)', 'transform_scales'],
    ['_silu_mul_fp8_quant_deep_gemm', 'activation'],
    ['_per_token_group_quant_fp8_colmajor', 'quantize|requantize'],
    ['void vllm::moe::moe_align_block_size_kernel<int>(...)', 'permute'],
    ['void vllm::moe::count_and_sort_expert_tokens_kernel<int>(...)', 'permute'],
    ['void vllm::moe::moe_sum_kernel<c10::BFloat16, 8>(...)', 'unpermute'],
    ['void vllm::moe::topkGatingSoftmax<4, 128, 4, 16, int>(...)', 'router'],
    ['void deep_ep::internode_ll::dispatch<false, 7168>(...)', 'dispatch'],
    ['void deep_ep::intranode::combine<nv_bfloat16, 8, 768>(...)', 'combine'],
    ['fused_moe_kernel', 'gemm1|gemm2'],
    ['void deep_gemm::sm100_fp8_fp4_mega_moe_impl<...>(...)', 'other'],
  ];
  for (const [n, stage] of peers) assert.equal(matchRule(n)?.rule.stage, stage, n);
  assert.ok(KERNEL_STAGE_RULES.every((r) => r.note.length > 0));
  // GEMM2 needs the activation (or requantize) before it; a quantizer after GEMM1 is a requantization
  const recs: KernelRecord[] = ['per_token_group_quant_8bit_kernel', 'fused_moe_kernel', 'per_token_group_quant_8bit_kernel', 'fused_moe_kernel'].map((name, seq) => ({ name, seq, durUs: 1, device: '0', stream: '7', kind: 'kernel' }));
  assert.deepEqual(classifyKernels(recs).map((k) => k.stage), ['quantize', 'gemm1', 'requantize', 'gemm2']);
});

/**
 * Captured on the GPU machine (H200, torch 2.11, ncu 2025.3) from scripts/capture_profiles.py: an FP8 MoE layer in
 * plain PyTorch with torch._scaled_grouped_mm GEMMs and record_function("moe::<stage>") marks. The trace is as
 * torch.profiler wrote it (gzip); the two ncu exports keep their prelude and header, and the rows of 9 of the 41
 * profiled launches (filtered with Python's csv module, all fields quoted as ncu writes them; details gzip-ed).
 */
const FIX = join(__dirname, 'fixtures');

test('real torch.profiler trace (H200): every stage from record_function marks and the launching op; setup kernel with its GEMM', () => {
  const r = importProfile(join(FIX, 'h200-torch-scaled-grouped-mm.trace.json.gz'));
  assert.equal(r.format, 'chrome-trace');
  assert.equal(r.kernels.length, 47);
  assert.deepEqual(r.stages.map((s) => s.stage), ['quantize', 'permute', 'gemm1', 'activation', 'requantize', 'gemm2', 'unpermute', 'other']);
  const st = Object.fromEntries(r.stages.map((s) => [s.stage, s]));
  // torch._scaled_grouped_mm = prepare_grouped_gemm_data + the CUTLASS grouped GEMM (a mangled name in Kineto)
  for (const g of ['gemm1', 'gemm2'] as const) {
    assert.equal(st[g]!.count, 2);
    assert.ok(st[g]!.kernels.some((n) => /prepare_grouped_gemm_data/.test(n)));
    assert.ok(st[g]!.kernels.some((n) => /GroupProblemShape/.test(n)));
  }
  assert.ok(st.gemm1!.totalUs > 10 && st.gemm1!.totalUs < 100, String(st.gemm1!.totalUs));
  assert.equal(st.quantize!.count, st.requantize!.count, 'the same quantizer ops before GEMM1 and after the activation');
  // the final .to(bfloat16) is outside every mark: listed, not dropped
  assert.equal(r.unmatched.length, 1);
  assert.match(r.unmatched[0]!.name, /bfloat16_copy_kernel/);
  const total = r.stages.reduce((a, s) => a + s.totalUs, 0) + r.unmatched.reduce((a, u) => a + u.totalUs, 0);
  assert.ok(Math.abs(total - r.kernels.reduce((a, k) => a + k.durUs, 0)) < 1e-6, 'every launch counted once');
});

test('real ncu exports (H200): details (gzip) and raw pages agree on the grouped GEMMs and their launch figures', () => {
  const d = importProfile(join(FIX, 'h200-torch-scaled-grouped-mm.ncu-details.csv.gz'));
  const w = importProfile(join(FIX, 'h200-torch-scaled-grouped-mm.ncu-raw.csv'));
  assert.equal(d.format, 'ncu-details');
  assert.equal(w.format, 'ncu-raw');
  for (const r of [d, w]) {
    assert.equal(r.kernels.length, 9);
    assert.deepEqual(r.stages.map((s) => [s.stage, s.count]), [['gemm1', 2], ['gemm2', 2]]);
    assert.equal(r.unmatched.reduce((a, u) => a + u.count, 0), 5);
    const gemm = r.kernels.find((k) => /GroupProblemShape/.test(k.name))!;
    assert.equal(gemm.metrics!.registers, 168);
    assert.ok(gemm.metrics!.sharedBytes! > 200e3, 'dynamic shared memory in Kbyte/block');
    assert.ok(gemm.durUs > 3 && gemm.durUs < 50);
    for (const k of r.kernels) assert.ok(Number.isFinite(k.durUs) && k.durUs > 0, k.name);
  }
  // same launches, measured twice: durations within 20 %
  for (const s of d.stages) {
    const o = w.stages.find((x) => x.stage === s.stage)!;
    assert.ok(Math.abs(s.totalUs - o.totalUs) / s.totalUs < 0.2, `${s.stage}: ${s.totalUs} vs ${o.totalUs}`);
  }
});

test('ncu --nvtx exports: "moe::<stage>" push/pop ranges map launches that have no recognisable name', () => {
  const head = '"ID","Process ID","Process Name","Host Name","thread Domain:Push/Pop_Range:PL_Type:PL_Value:CLR_Type:Color:Msg_Type:Msg","Id:Domain:Start/Stop_Range:PL_Type:PL_Value:CLR_Type:Color:Msg_Type:Msg","Kernel Name","Context","Stream","Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"';
  const row = (id: number, range: string, kernel: string, dur: string): string =>
    [id, 623, 'python3.12', '127.0.0.1', `623  "<default domain>:moe:none:none:none:none:none:none" "<default domain>:${range}:none:none:none:none:none:none" `, '', kernel, 1, 7, '(128, 1, 1)', '(64, 1, 1)', 0, '9.0', 'GPU Speed Of Light Throughput', 'Duration', 'usecond', dur]
      .map((v) => `"${String(v).replace(/"/g, '""')}"`)
      .join(',');
  const p = join(dir, 'ncu-nvtx.csv');
  writeFileSync(p, [head, row(0, 'moe::quantize', 'void native::reduce_kernel<512, 1>(…)', '4.00'), row(1, 'moe::activation', 'void native::elementwise_kernel<128, 4>(…)', '3.00'), row(2, 'other_range', 'void native::elementwise_kernel<128, 2>(…)', '1.00')].join('\n'));
  const r = importProfile(p);
  assert.deepEqual(r.kernels.map((k) => [k.stage, k.ops]), [['quantize', ['moe::quantize']], ['activation', ['moe::activation']], [undefined, undefined]]);
});
