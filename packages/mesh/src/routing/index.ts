export { baggageGet, baggageSet, MAX_BAGGAGE_BYTES } from './baggage.ts';
export { chance, shouldMirror } from './chance.ts';
export {
  type CompiledRule,
  compileRules,
  type Destination,
  matchRule,
  type RequestFacts,
  type SourceFacts,
} from './compile-rules.ts';
export { decideFault, type FaultDecision, NO_FAULT } from './fault.ts';
export { pickSubset, type ReadySubset, type ServiceSubsets, type SubsetChoice } from './pick-subset.ts';
