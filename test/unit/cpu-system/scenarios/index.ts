import type { Scenario } from './types.ts';
import { farTransfers, invalidTss } from './far.ts';
import { doubleFault, interruptGates, interruptShadow, tripleFault } from './interrupts.ts';
import { controlRegisters, cr0Checks, realModeRoundTrip } from './modes.ts';
import { paging, tlbRetention } from './paging.ts';
import { cpuidValues, descriptorInstructions, fxsaveChecks, msrsAndSysenter, qemuDivergences } from './system.ts';
import { virtual8086 } from './vm86.ts';
import { singleStep } from './debug.ts';
import { taskSwitches } from './tasks.ts';
import { exceptionVectors, ioBitmap } from './exceptions.ts';
import { enterOn16BitStack, segmentLimits, segmentLoads } from './segments.ts';

export const ALL_SCENARIOS: Scenario[] = [
  segmentLoads, segmentLimits, realModeRoundTrip, controlRegisters, cr0Checks,
  interruptGates, doubleFault, tripleFault, interruptShadow,
  farTransfers, invalidTss, paging, tlbRetention,
  msrsAndSysenter, descriptorInstructions, fxsaveChecks, cpuidValues, qemuDivergences, virtual8086, singleStep, enterOn16BitStack, taskSwitches,
  exceptionVectors, ioBitmap,
];
