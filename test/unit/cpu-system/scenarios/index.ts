import type { Scenario } from './types.ts';
import { segmentLimits, segmentLoads } from './segments.ts';

export const ALL_SCENARIOS: Scenario[] = [segmentLoads, segmentLimits];
