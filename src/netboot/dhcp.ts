export { DhcpPolicy, validateSubnets, type DhcpPolicyDeps, type PolicyRequest } from './dhcp-policy.js';
export { bootAnswer, type BootAnswer, type BootConfig } from './dhcp-boot.js';
export { EventLimiter } from './dhcp-events.js';
export { AddressPool } from './dhcp-pool.js';
export { createDhcpPolicy, warmUpDhcp, WARM_UP_EXCHANGES, type WarmUpResult } from './dhcp-warmup.js';
