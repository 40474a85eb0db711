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
// --- radios, OpenThread, captures, harness (issue 3) ---
export { LINKTYPE_IEEE802_15_4_WITHFCS, PCAP_MEDIA_TYPE, PcapDecodeError, decodePcap, encodePcap } from "./pcap.ts";
export type { DecodedPcap, PcapRecord } from "./pcap.ts";
export { createDefaultLab, firmwareImage, runSuiteOnEmulatedLab } from "./harness.ts";
export type { SuiteRun } from "./harness.ts";
export { resolveFaults } from "./lab.ts";
export { NO_BOARD_FAULTS, eui64For } from "./board.ts";
export type { BoardFaults, TargetedFault } from "./board.ts";
export type { BurstLoss, JamWindow, LinkLoss } from "./radio.ts";
export { BROKEN_FIRMWARE, BROKEN_IMAGE_APP } from "./firmware.ts";
export { OtCliFirmware } from "./ot/cli-firmware.ts";
export { ThreadNode } from "./ot/node.ts";
export type { Role as ThreadRole } from "./ot/node.ts";
export { ATTACHED_LINE, OT_UDP_PORT, UDP_TX_MESSAGE } from "./ot/apps.ts";
export { THREAD_NETWORK_KEY, deriveKeys, ip6ToString, openFrame, parseIp6, sealFrame } from "./ot/wire.ts";
export { SnifferFirmware } from "./sniffer-firmware.ts";
export { rawFrame } from "./apps/radio-tx-raw.ts";
export { C_HELLO_LINE } from "./apps/c-hello.ts";
// --- networks and kernels: Ethernet, WiFi, IPC (issue 4) ---
export { NetworkEnvironment, NETWORK_FAULTS } from "./boards/network-lab.ts";
export type { NetworkBoard } from "./boards/network-lab.ts";
export { EthernetBoard, NUCLEO_F429ZI_LAYOUT, QEMU_RV32_VIRT_LAYOUT } from "./boards/ethernet-board.ts";
export { PicoWBoard, PICO_W_LAYOUT } from "./boards/pico-w-board.ts";
export { MultiKernelBoard, MULTIKERNEL_LAYOUT } from "./boards/multikernel-board.ts";
export {
  MULTIKERNEL,
  NETWORK_APPS,
  NETWORK_BOARD_TYPES,
  NETWORK_DEFAULT_FIRMWARE,
  NETWORK_KERNELS,
  NUCLEO_F429ZI,
  PICO_W,
  QEMU_RV32_VIRT,
  buildNetworkFirmware,
} from "./boards/firmware.ts";
export {
  BROADCAST_MAC,
  ETHERTYPE,
  appendFcs as appendEthernetFcs,
  decodeEthernet,
  encodeEthernet,
  fcsValid as ethernetFcsValid,
} from "./net/ethernet.ts";
export type { EthernetFrame, Mac } from "./net/ethernet.ts";
export { internetChecksum } from "./net/checksum.ts";
export { LINKTYPE_ETHERNET, encodeEthernetPcap } from "./net/pcap.ts";
export { HOST_IP, HOST_MAC, HostPeer } from "./net/host-peer.ts";
export { L2Segment } from "./net/segment.ts";
export { EthernetTap, TAP_MAX_MTU, TAP_RX_SLOTS } from "./net/tap.ts";
export { LAB_ACCESS_POINTS, LAB_PASSPHRASE, LAB_SSID, WifiAir } from "./wifi/access-point.ts";
export { derivePsk, derivePtk, prf } from "./wifi/wpa2.ts";
export { Cyw43439 } from "./wifi/cyw43439.ts";
export { IpcStatus, gidString } from "./ipc/ipc-ng.ts";
export type { GlobalId } from "./ipc/ipc-ng.ts";
export { InterKernelChannel } from "./ipc/channel.ts";
export { decodeEthernetFrame } from "./net/validate.ts";
export { BOARD_ARCH, TabError, appTbf, readTar, writeTar } from "./tab.ts";
export { buildTab } from "./firmware.ts";
