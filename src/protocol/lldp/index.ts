export {
  CHASSIS_SUBTYPE,
  PORT_SUBTYPE,
  TLV,
  decodeLldpdu,
  encodeLldpdu,
  encodedLength,
  lldpduFromHex,
  readTlvs,
  type LldpId,
  type LldpReason,
  type LldpTlv,
  type Lldpdu,
  type ManagementAddress,
} from './lldpdu.js';
export { addressText, summarizeLldpdu, type LldpSummary } from './render.js';
