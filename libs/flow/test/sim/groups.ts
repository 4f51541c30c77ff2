import { Schedule } from './schedule';

/** Slices of the schedules by what they hold, for the script's breakdown (docs/SIMULATION.md). */
export const GROUPS: readonly { readonly name: string; readonly holds: (s: Schedule) => boolean }[] = [
  { name: 'stable, no frame faults', holds: (s) => s.membership === 'stable' && !dropped(s) && !delayed(s) },
  { name: 'stable, delays only', holds: (s) => s.membership === 'stable' && !dropped(s) && delayed(s) },
  { name: 'stable, drops', holds: (s) => s.membership === 'stable' && dropped(s) },
  { name: 'changes, no frame faults', holds: (s) => s.membership === 'changes' && !dropped(s) && !delayed(s) },
  { name: 'changes, drops', holds: (s) => s.membership === 'changes' && dropped(s) },
  { name: 'changes with a close() leave', holds: (s) => s.membership === 'changes' && closes(s) },
  { name: 'changes without a close() leave', holds: (s) => s.membership === 'changes' && !closes(s) },
  { name: 'crashes, no disconnect', holds: (s) => s.membership === 'crashes' && !disconnects(s) },
  { name: 'crashes, with a disconnect', holds: (s) => s.membership === 'crashes' && disconnects(s) },
];

const dropped = (s: Schedule): boolean => s.faults.drop > 0;
const delayed = (s: Schedule): boolean => s.faults.delay > 0;
const closes = (s: Schedule): boolean => s.events.some((e) => e.kind === 'leave' && e.how === 'close');
const disconnects = (s: Schedule): boolean => s.events.some((e) => e.kind === 'disconnect');
