// Preloaded (node --require) into a `nos` process under test: installs the full-disk plan given in NOS_TEST_FULL_DISK.
import { FULL_DISK_ENV, installFullDisk, type FullDiskPlan } from './full-disk';

const plan = process.env[FULL_DISK_ENV];
if (plan) installFullDisk(JSON.parse(plan) as FullDiskPlan);
