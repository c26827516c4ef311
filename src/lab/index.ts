/** The network-namespace lab: public surface for tests and the `sipfarm lab` command. */
export { Lab, LabError, destroyLab, type LabOptions, type LabStatus, type LbMode, type ExecOptions, type ExecResult, type LabSpawnOptions } from './lab.js';
export * from './topology.js';
export * from './farm.js';
