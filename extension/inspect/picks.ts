/**
 * The Inspect MoE Layer quick-pick flow: one question per step, each pre-filled with the last answer
 * (remembered in globalState), validated as the user types. Returns the choices, or undefined when the user
 * pressed Escape at any step.
 */
import * as vscode from 'vscode';
import type { Arch, BackendChoice, QuantConvention, ScaleFormat } from '../../kernels/spec';
import { recipeChoices, transformOnlyMessage, type InspectChoices, type MakeSpec, type CustomShape } from './choices';
import { ARCHS, archById } from '../../kernels/arch/index';
import { recipeById } from '../../kernels/recipes/index';
import { PRESETS } from '../../kernels/presets';

/** the recipes a preset (by label or id) is run with, if it names them */
const presetRecipes = (preset: string): readonly string[] | undefined => PRESETS.find((p) => p.label === preset || p.id === preset)?.recipes;
import {
  parseExpertParallel,
  parsePositiveInt,
  validateExpertParallel,
  validateMultipleOf128,
  validatePositiveInt,
  validateSkew,
  validateTopk,
} from './validate';

const STEPS = 9;

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

export type SourcePick = { kind: 'preset'; preset: string } | { kind: 'custom' } | { kind: 'file' } | { kind: 'checkpoint' };

export async function pickSource(presets: readonly string[], describe: (preset: string) => string, last: string): Promise<SourcePick | undefined> {
  const items: Item<SourcePick>[] = [
    ...presets.map((p) => ({ label: p, description: describe(p), value: { kind: 'preset' as const, preset: p } })),
    { label: '$(edit) Custom shapes…', description: 'hidden K, intermediate N, experts', value: { kind: 'custom' } },
    { label: '$(file) From a .safetensors layer file…', description: 'vLLM FusedMoE tensor names', value: { kind: 'file' } },
    { label: '$(database) From a checkpoint folder…', description: 'Hugging Face folder: config.json + safetensors shards (DeepSeek-V3/R1/V3.1, Qwen3-MoE, Mixtral, DeepSeek-V4)', value: { kind: 'checkpoint' } },
  ];
  const first = items.find((i) => i.value.kind === 'preset' && i.value.preset === last);
  const ordered = first ? [first, ...items.filter((i) => i !== first)] : items;
  const chosen = await vscode.window.showQuickPick(ordered, {
    title: `Inspect MoE Layer (1/${STEPS}): layer`,
    placeHolder: 'Pick a model preset, custom shapes, a layer file or a checkpoint folder',
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
 * Steps 2–9 after the layer is chosen. `presetShape` gives experts and default top-k of the chosen preset so the
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

  // the recipe: how tokens reach the experts and which kernels run (kernels/recipes), then its own options
  const presetOwn = source.kind === 'preset' ? (presetRecipes(source.preset) ?? []) : [];
  const listed = recipeChoices(presetOwn);
  const recipe = await pick<string>(
    2,
    'recipe',
    listed.map(({ recipe: r, ownModel, transformOnly }) => ({
      label: r.label,
      description: `${ownModel ? '(this model) ' : ''}${transformOnly ? '(moe-inspect transform only) ' : ''}${r.description}`,
      value: r.id,
    })),
    presetOwn.includes(c.recipe) || !presetOwn.length ? c.recipe : presetOwn[0]!,
  );
  if (recipe && listed.some((x) => x.transformOnly && x.recipe.id === recipe)) {
    void vscode.window.showInformationMessage(transformOnlyMessage(recipeById(recipe)));
    return undefined;
  }
  if (!recipe) return undefined;
  if (recipe !== c.recipe) c.recipeOptions = {};
  c.recipe = recipe;

  const tokens = await ask(3, 'tokens M', String(c.tokens), (t) => validatePositiveInt('tokens', t, 65536), 'number of tokens in the batch');
  if (tokens === undefined) return undefined;
  c.tokens = parsePositiveInt(tokens)!;

  const topk = await ask(4, 'top-k', String(Math.min(defaultTopk, experts)), (t) => validateTopk(t, experts), `experts per token, at most ${experts}`);
  if (topk === undefined) return undefined;
  c.topk = parsePositiveInt(topk)!;

  const epDefault = experts % c.ep.size === 0 && c.ep.rank < c.ep.size ? `${c.ep.size}/${c.ep.rank}` : '1/0';
  const ep = await ask(5, 'expert-parallel shard size/rank', epDefault, (t) => validateExpertParallel(t, experts), '"1/0" = all experts on this rank');
  if (ep === undefined) return undefined;
  c.ep = parseExpertParallel(ep)!;

  const arch = await pick<Arch>(6, 'architecture', ARCHS.map((a) => ({ label: a.label, description: a.description, value: a.id })), c.arch);
  if (!arch) return undefined;
  c.arch = arch;

  // the recipe's options, each with its default for the layer chosen so far (e.g. max_m from tokens)
  const r = recipeById(c.recipe);
  for (const o of r.options) {
    const spec = makeSpec(c.preset === 'custom' ? 'qwen3-30b-a3b' : c.preset, { tokens: c.tokens, arch: c.arch });
    const dflt = c.recipeOptions[o.id] ?? o.defaultFor(spec);
    const v = await ask(6, o.label, String(dflt), (t) => validatePositiveInt(o.label, t, 1 << 20), o.description);
    if (v === undefined) return undefined;
    c.recipeOptions[o.id] = parsePositiveInt(v)!;
  }

  type R = `${ScaleFormat}/${QuantConvention}`;
  const recipes: Item<R>[] = [
    { label: 'float32 scales · vLLM', description: 's = max(amax, 1e-10)/448, q = fp8(clamp(x/s))', value: 'f32/vllm' },
    { label: 'UE8M0 scales · vLLM', description: 'power-of-two scales (DeepSeek-V3.1 scale_fmt: ue8m0)', value: 'ue8m0/vllm' },
    { label: 'float32 scales · DeepGEMM', description: 's = max(amax, 1e-4)/448, q = fp8(x·(1/s))', value: 'f32/deepgemm' },
    { label: 'UE8M0 scales · DeepGEMM', description: 'power-of-two scales, DeepGEMM test convention', value: 'ue8m0/deepgemm' },
  ];
  // only the scale formats the architecture's kernels take are offered (SM100: packed UE8M0)
  const formats = archById(c.arch).scaleFormats;
  const offered = recipes.filter((x) => formats.includes(x.value.split('/')[0] as ScaleFormat));
  const current = `${formats.includes(c.scaleFormat) ? c.scaleFormat : formats[0]}/${c.quant}` as R;
  const scaleRecipe = await pick<R>(7, 'scale recipe', offered, current);
  if (!scaleRecipe) return undefined;
  const [fmt, quant] = scaleRecipe.split('/') as [ScaleFormat, QuantConvention];
  c.scaleFormat = fmt;
  c.quant = quant;

  const skew = await ask(8, 'router skew (Zipf exponent)', String(c.skew), validateSkew, '0 = uniform routing, 1.2 = a few hot experts');
  if (skew === undefined) return undefined;
  c.skew = Number(skew.trim());

  const backend = await pick<BackendChoice>(9, 'backend', [
    { label: 'Auto', description: 'CUDA when the addon and a GPU are there, else CPU', value: 'auto' },
    { label: 'CPU', description: 'TypeScript reference path', value: 'cpu' },
    { label: 'CUDA', description: 'native addon (fails with the reason when unavailable)', value: 'cuda' },
  ], c.backend);
  if (!backend) return undefined;
  c.backend = backend;
  return c;
}
