/** Hugging Face checkpoint folders: MoE layers by family, loaded by byte range (docs/checkpoints.md). */
export { Checkpoint, rangesText, type LoadedLayer, type LoadLayerOptions, type MoeLayerInfo, type WeightFormat } from './checkpoint';
export { CheckpointFiles, readShardHeader, READ_CHUNK_BYTES, type ShardTensor } from './shards';
export { FAMILIES, detectFamily, type FamilyDef, type FamilyId, type FamilyConfig } from './families';
export type { CheckpointConfig, QuantConfig } from './config';
export { verifyLayer, type LayerVerdict, type VerifyOptions } from './verify';
