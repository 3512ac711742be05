/** Router scoring and router dumps (docs/dump-layer-inputs.md, docs/layouts-and-stages.md §10.3). */
export type { RouterConfig, Routing, ScoringFunc } from './types';
export { routeFromLogits, scoreExperts, checkRouterConfig } from './score';
export { loadRouterDump, resolveRouting, conversionCommand, DUMP_TENSOR_NAMES, type RouterDump, type ResolvedRouting } from './dump';
