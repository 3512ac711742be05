/** Scale-factor layouts the FP8 grouped GEMMs want (docs/layouts-and-stages.md §2.3, §4), one concern per file. */
export type { LayoutDescriptor, Packing, StorageOrder } from './descriptor';
export { alignUp, ceilDiv, tmaAlignedSize } from './tma';
export { isSm90Ready, sm90Strides, toSm90ActScales } from './sm90';
export { isSm100PackedReady, sm100PackedGeometry, toSm100PackedUe8m0 } from './sm100';
export { broadcastWeightScaleRows } from './weightScales';
export { transformActivationOrWeight, type KernelScaleLayout, type ScaleRole, type ScaleTransform } from './transform';
export { describeLayout } from './describe';
export { layoutPicture, storageMap } from './picture';
