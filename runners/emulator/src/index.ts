/**
 * @tock-hil/emulator: TypeScript emulation of nRF52840DK boards running Tock on a shared 802.15.4 medium, in
 * virtual time, behind the narrow `Lab`/`Board` interface of @tock-hil/board.
 */
export { createEmulatedLab } from "./lab.ts";
export type { EmulatedBoardConfig, EmulatedLab, EmulatedLabOptions } from "./lab.ts";
export { EmulatedBoard, NRF52840DK_LAYOUT, SUPPORTED_BOARD_TYPES, describeImage } from "./board.ts";
export { Scheduler } from "./scheduler.ts";
export type { EventHandle } from "./scheduler.ts";
export { Medium, Radio } from "./radio.ts";
export type { AirFrame, MediumFaults, RadioStats, TxStatus } from "./radio.ts";
export { BOOT_MESSAGE, RX_RING_SLOTS } from "./kernel.ts";
export type { KernelStats } from "./kernel.ts";
export { createRng, hashString } from "./prng.ts";
export type { Rng } from "./prng.ts";
export { crc16Kermit, crc32 } from "./crc.ts";
export {
  BROADCAST,
  FrameDecodeError,
  FrameType,
  FrameVersion,
  ackPsdu,
  airtimeUs,
  appendFcs,
  decodeFrame,
  encodeFrame,
  fcsValid,
  frameControl,
  headerLength,
} from "./frame.ts";
export type { DecodedFrame, MacAddress, MacFrame } from "./frame.ts";
export { TBF_FLAG_ENABLED, TBF_FLAG_STICKY, TbfError, encodeTbfHeader, parseTbf, tbfChecksum } from "./tbf.ts";
export type { TbfHeader, TbfTlv } from "./tbf.ts";
export { KERNEL_MAGIC, KernelImageError, encodeKernelImage, parseKernelImage } from "./kernel-image.ts";
export type { KernelFlavour, KernelImageInfo } from "./kernel-image.ts";
export { DEFAULT_FIRMWARE, KERNELS, buildFirmware, isKernelName, sha256Hex } from "./firmware.ts";
export type { BuildOptions, BuiltFirmware } from "./firmware.ts";
export { appModels } from "./apps/index.ts";
export { describeSlot } from "./apps/radio-rx.ts";
