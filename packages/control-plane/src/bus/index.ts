export { busAddress, redactBusUrl } from './bus-address.ts';
export { BusError, type BusErrorCode } from './errors.ts';
export { ServiceDeadLetters, type ServiceDeadLettersOptions } from './service-dead-letters.ts';
export { type BusHandle, type BusTimeouts, type StartBusOptions, startBus } from './start-bus.ts';
