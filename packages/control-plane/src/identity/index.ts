export { InstanceTokenRegistry } from './instance-tokens.ts';
