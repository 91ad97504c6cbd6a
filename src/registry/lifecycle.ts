/**
 * The machine lifecycle, after MAAS's NODE_STATUS and Ironic's provision states, reduced to what an
 * appliance without disk erasure or rescue mode needs. One table; nothing else decides legality.
 */
export const MACHINE_STATES = [
  'new',
  'commissioning',
  'failed_commissioning',
  'ready',
  'allocated',
  'deploying',
  'deployed',
  'failed_deployment',
  'releasing',
  'broken',
] as const;

export type MachineState = (typeof MACHINE_STATES)[number];

export const TRANSITIONS: Readonly<Record<MachineState, readonly MachineState[]>> = {
  // Enlisted by a PXE boot or by an operator. Accepting without commissioning (new → ready) is allowed,
  // as MAAS lets an admin do; commissioning → new is where facts land while auto-accept is off.
  new: ['commissioning', 'ready', 'broken'],
  commissioning: ['ready', 'new', 'failed_commissioning', 'broken'],
  failed_commissioning: ['commissioning', 'new', 'broken'],
  ready: ['allocated', 'commissioning', 'broken'],
  // Releasing an allocation that never deployed touches no disk, so it goes straight back to ready.
  allocated: ['deploying', 'releasing', 'ready', 'broken'],
  deploying: ['deployed', 'failed_deployment', 'releasing', 'broken'],
  deployed: ['deploying', 'releasing', 'broken'],
  failed_deployment: ['deploying', 'releasing', 'broken'],
  releasing: ['ready', 'broken'],
  broken: ['new', 'ready', 'commissioning'],
};

export function isMachineState(value: string): value is MachineState {
  return (MACHINE_STATES as readonly string[]).includes(value);
}

export function canTransition(from: MachineState, to: MachineState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** States in which a machine belongs to an owner. */
export const OWNED_STATES: readonly MachineState[] = ['allocated', 'deploying', 'deployed', 'failed_deployment'];

/** States whose machine should PXE into the discovery OS. */
export const DISCOVERY_STATES: readonly MachineState[] = ['new', 'commissioning'];
