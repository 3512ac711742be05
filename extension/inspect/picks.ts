/**
 * The Inspect MoE Layer quick-pick flow: one question per step, each pre-filled with the last answer
 * (remembered in globalState), validated as the user types. Returns the choices, or undefined when the user
 * pressed Escape at any step.
 */
import * as vscode from 'vscode';
import type { Arch, BackendChoice, QuantConvention, ScaleFormat } from '../../kernels/spec';
import { type InspectChoices, type MakeSpec, type CustomShape } from './choices';
import {
  parseExpertParallel,
  parsePositiveInt,
  validateExpertParallel,
  validateMultipleOf128,
  validatePositiveInt,
  validateSkew,
  validateTopk,
} from './validate';

const STEPS = 8;

interface Item<T> extends vscode.QuickPickItem {
  value: T;
}

async function pick<T>(step: number, title: string, items: Item<T>[], current: T): Promise<T | undefined> {
  // The remembered answer goes first so Enter repeats the last run.
  const sorted = [...items.filter((i) => i.value === current), ...items.filter((i) => i.value !== current)];
  const chosen = await vscode.window.showQuickPick(sorted, {
    title: `Inspect MoE Layer (${step}/${STEPS}): ${title}`,
    placeHolder: title,
    ignoreFocusOut: true,
    matchOnDescription: true,
  });
  return chosen?.value;
}

async function ask(step: number, title: string, value: string, validate: (text: string) => string | undefined, prompt?: string): Promise<string | undefined> {
  return vscode.window.showInputBox({
    title: `Inspect MoE Layer (${step}/${STEPS}): ${title}`,
    prompt,
    value,
    ignoreFocusOut: true,
    validateInput: validate,
  });
}

export type SourcePick = { kind: 'preset'; preset: string } | { kind: 'custom' } | { kind: 'file' };

export async function pickSource(presets: readonly string[], describe: (preset: string) => string, last: string): Promise<SourcePick | undefined> {
  const items: Item<SourcePick>[] = [
    ...presets.map((p) => ({ label: p, description: describe(p), value: { kind: 'preset' as const, preset: p } })),
    { label: '$(edit) Custom shapes…', description: 'hidden K, intermediate N, experts', value: { kind: 'custom' } },
    { label: '$(file) From a .safetensors layer file…', description: 'vLLM FusedMoE tensor names', value: { kind: 'file' } },
  ];
  const first = items.find((i) => i.value.kind === 'preset' && i.value.preset === last);
  const ordered = first ? [first, ...items.filter((i) => i !== first)] : items;
  const chosen = await vscode.window.showQuickPick(ordered, {
    title: `Inspect MoE Layer (1/${STEPS}): layer`,
    placeHolder: 'Pick a model preset, custom shapes, or a layer file',
    ignoreFocusOut: true,
    matchOnDescription: true,
  });
  return chosen?.value;
}

async function askCustom(last: CustomShape | undefined): Promise<CustomShape | undefined> {
  const k = await ask(1, 'hidden size K', String(last?.hidden ?? 2048), (t) => validateMultipleOf128('hidden K', t), 'multiple of 128');
  if (k === undefined) return undefined;
  const n = await ask(1, 'intermediate size N (per expert)', String(last?.intermediate ?? 768), (t) => validateMultipleOf128('intermediate N', t), 'multiple of 128');
  if (n === undefined) return undefined;
  const e = await ask(1, 'experts', String(last?.experts ?? 128), (t) => validatePositiveInt('experts', t, 4096));
  if (e === undefined) return undefined;
  return { hidden: parsePositiveInt(k)!, intermediate: parsePositiveInt(n)!, experts: parsePositiveInt(e)! };
}

/**
 * Steps 2–8 after the layer is chosen. `presetShape` gives experts and default top-k of the chosen preset so the
 * top-k and EP boxes can validate against it.
 */
export async function pickChoices(last: InspectChoices, source: SourcePick, makeSpec: MakeSpec): Promise<InspectChoices | undefined> {
  const c: InspectChoices = { ...last, ep: { ...last.ep } };
  let experts: number;
  let defaultTopk: number;
  if (source.kind === 'custom') {
    const shape = await askCustom(last.custom);
    if (!shape) return undefined;
    c.preset = 'custom';
    c.custom = shape;
    experts = shape.experts;
    defaultTopk = Math.min(last.topk, experts);
  } else if (source.kind === 'preset') {
    const base = makeSpec(source.preset, {});
    experts = base.experts;
    defaultTopk = source.preset === last.preset ? last.topk : base.topk;
    c.preset = source.preset;
  } else {
    return undefined;
  }

  const tokens = await ask(2, 'tokens M', String(c.tokens), (t) => validatePositiveInt('tokens', t, 65536), 'number of tokens in the batch');
  if (tokens === undefined) return undefined;
  c.tokens = parsePositiveInt(tokens)!;

  const topk = await ask(3, 'top-k', String(Math.min(defaultTopk, experts)), (t) => validateTopk(t, experts), `experts per token, at most ${experts}`);
  if (topk === undefined) return undefined;
  c.topk = parsePositiveInt(topk)!;

  const epDefault = experts % c.ep.size === 0 && c.ep.rank < c.ep.size ? `${c.ep.size}/${c.ep.rank}` : '1/0';
  const ep = await ask(4, 'expert-parallel shard size/rank', epDefault, (t) => validateExpertParallel(t, experts), '"1/0" = all experts on this rank');
  if (ep === undefined) return undefined;
  c.ep = parseExpertParallel(ep)!;

  const arch = await pick<Arch>(5, 'architecture', [
    { label: 'SM90 (Hopper)', description: 'float32 scales, MN-major, TMA-aligned', value: 'sm90' },
    { label: 'SM100 (Blackwell)', description: 'packed UE8M0 scales, 4 per int32', value: 'sm100' },
  ], c.arch);
  if (!arch) return undefined;
  c.arch = arch;

  type R = `${ScaleFormat}/${QuantConvention}`;
  const recipes: Item<R>[] = [
    { label: 'float32 scales · vLLM', description: 's = max(amax, 1e-10)/448, q = fp8(clamp(x/s))', value: 'f32/vllm' },
    { label: 'UE8M0 scales · vLLM', description: 'power-of-two scales (DeepSeek-V3.1 scale_fmt: ue8m0)', value: 'ue8m0/vllm' },
    { label: 'float32 scales · DeepGEMM', description: 's = max(amax, 1e-4)/448, q = fp8(x·(1/s))', value: 'f32/deepgemm' },
    { label: 'UE8M0 scales · DeepGEMM', description: 'power-of-two scales, DeepGEMM test convention', value: 'ue8m0/deepgemm' },
  ];
  // SM100 consumes packed UE8M0 only, so float32 recipes are not offered there.
  const offered = c.arch === 'sm100' ? recipes.filter((r) => r.value.startsWith('ue8m0')) : recipes;
  const current = (c.arch === 'sm100' ? `ue8m0/${c.quant}` : `${c.scaleFormat}/${c.quant}`) as R;
  const recipe = await pick<R>(6, 'scale recipe', offered, current);
  if (!recipe) return undefined;
  const [fmt, quant] = recipe.split('/') as [ScaleFormat, QuantConvention];
  c.scaleFormat = fmt;
  c.quant = quant;

  const skew = await ask(7, 'router skew (Zipf exponent)', String(c.skew), validateSkew, '0 = uniform routing, 1.2 = a few hot experts');
  if (skew === undefined) return undefined;
  c.skew = Number(skew.trim());

  const backend = await pick<BackendChoice>(8, 'backend', [
    { label: 'Auto', description: 'CUDA when the addon and a GPU are there, else CPU', value: 'auto' },
    { label: 'CPU', description: 'TypeScript reference path', value: 'cpu' },
    { label: 'CUDA', description: 'native addon (fails with the reason when unavailable)', value: 'cuda' },
  ], c.backend);
  if (!backend) return undefined;
  c.backend = backend;
  return c;
}
