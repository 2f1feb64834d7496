// A protocol's data: the fixed splits of a dataset, checked to fit the protocol's model (its image size).
import { DataError } from './data-error';
import { DEFAULT_DATA_PATH, loadTrainingData, prepareSplits, type PreparedData } from './data';
import { createModel, type ModelSpec } from './models';
import type { ProtocolConfig } from './protocol';

type ProtocolShape = Pick<ProtocolConfig, 'name' | 'model' | 'filters' | 'hidden' | 'batchSize' | 'trainExamples' | 'validationExamples'>;

/** The network a protocol trains on this data: its model at its widths, for the data's image size and classes. */
export function protocolModel(protocol: Pick<ProtocolShape, 'model' | 'filters' | 'hidden' | 'batchSize'>, data: PreparedData): ModelSpec {
  return createModel(protocol.model, [data.channels, data.height, data.width], data.classes, protocol.batchSize, { filters: protocol.filters, hidden: protocol.hidden });
}

/**
 * The protocol's training and validation splits of the dataset at `dataPath`; a DataError names the data when a file
 * is bad, too small, or of images the protocol's model cannot take (so a search stops once, not on every rule).
 */
export function prepareProtocolData(protocol: ProtocolShape, dataPath: string = DEFAULT_DATA_PATH): PreparedData {
  return checkDataFitsProtocol(protocol, prepareSplits(loadTrainingData(dataPath), protocol.trainExamples, protocol.validationExamples));
}

/** Returns `data` when the protocol's model takes its images; else a DataError naming the data, the sizes and a way out. */
export function checkDataFitsProtocol(protocol: ProtocolShape, data: PreparedData): PreparedData {
  try {
    protocolModel(protocol, data);
  } catch (e) {
    const hint = protocol.model === 'convnet' ? '; use a protocol with the mlp (--protocol quick), which takes any size, feature rows included' : '';
    throw new DataError(data.source, `images of ${data.channels}x${data.height}x${data.width} (channels x height x width) do not fit protocol '${protocol.name}': ${(e as Error).message}${hint}`);
  }
  return data;
}
