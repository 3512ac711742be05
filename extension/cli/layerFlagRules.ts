/**
 * Flag combinations of `run` / `export` that are contradictory or would be silently ignored, refused up front:
 * - --tokens, --seed, --skew, --ep, --rank shape a synthetic layer; a --layer file brings its own tokens, routing
 *   and (through expert_map) its own expert placement, so with --layer they would do nothing;
 * - --rank is a rank of --ep N ranks: it needs --ep and must be below it.
 * Kept apart from the flag definitions (layerArgs.ts) so either can change without the other.
 */
import { MoeError } from '../../kernels/errors';
import { type Flags, int, str } from './args';

const PRESET_ONLY = ['tokens', 'seed', 'skew', 'ep', 'rank'] as const;

export function refuseContradictoryLayerFlags(flags: Flags, command: string): void {
  if (str(flags, 'layer') !== undefined) {
    const given = PRESET_ONLY.filter((f) => str(flags, f) !== undefined);
    if (given.length) {
      const what = given.map((f) => `--${f}`).join(', ');
      throw new MoeError(
        'E_SPEC',
        `${command}: ${what} ${given.length > 1 ? 'apply' : 'applies'} to --preset only: a --layer file brings its own tokens and routing (and its expert_map says which experts are local), so ${given.length > 1 ? 'they' : 'it'} would be ignored; drop ${what}`,
      );
    }
  }
  const rank = int(flags, 'rank', undefined, 0);
  const ep = int(flags, 'ep', undefined, 1);
  if (rank !== undefined && ep === undefined) throw new MoeError('E_SPEC', `${command}: --rank ${rank} needs --ep N (the number of expert-parallel ranks it is one of)`);
  if (rank !== undefined && ep !== undefined && rank >= ep) throw new MoeError('E_SPEC', `${command}: --rank ${rank} must be below --ep ${ep} (ranks are 0 … ${ep - 1})`);
}
