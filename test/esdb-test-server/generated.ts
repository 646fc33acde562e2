import { createRequire } from 'node:module';

/**
 * The gRPC service definitions and protobuf messages generated for `@eventstore/db-client`, loaded the
 * way the client loads them (CommonJS `require`), so that they share the client's `@grpc/grpc-js` and
 * `google-protobuf` instances. Typed with the `.d.ts` files generated next to them.
 */
const require = createRequire(import.meta.url);

export const anyPb = require('google-protobuf/google/protobuf/any_pb.js') as typeof import('google-protobuf/google/protobuf/any_pb.js');
export const emptyPb = require('google-protobuf/google/protobuf/empty_pb.js') as typeof import('google-protobuf/google/protobuf/empty_pb.js');

export const codePb = require('@eventstore/db-client/generated/code_pb.js') as typeof import('@eventstore/db-client/generated/code_pb.js');
export const statusPb = require('@eventstore/db-client/generated/status_pb.js') as typeof import('@eventstore/db-client/generated/status_pb.js');
export const sharedPb = require('@eventstore/db-client/generated/shared_pb.js') as typeof import('@eventstore/db-client/generated/shared_pb.js');
export const streamsPb = require('@eventstore/db-client/generated/streams_pb.js') as typeof import('@eventstore/db-client/generated/streams_pb.js');
export const gossipPb = require('@eventstore/db-client/generated/gossip_pb.js') as typeof import('@eventstore/db-client/generated/gossip_pb.js');
export const serverFeaturesPb =
  require('@eventstore/db-client/generated/serverfeatures_pb.js') as typeof import('@eventstore/db-client/generated/serverfeatures_pb.js');

export const streamsGrpc =
  require('@eventstore/db-client/generated/streams_grpc_pb.js') as typeof import('@eventstore/db-client/generated/streams_grpc_pb.js');
export const gossipGrpc =
  require('@eventstore/db-client/generated/gossip_grpc_pb.js') as typeof import('@eventstore/db-client/generated/gossip_grpc_pb.js');
export const serverFeaturesGrpc =
  require('@eventstore/db-client/generated/serverfeatures_grpc_pb.js') as typeof import('@eventstore/db-client/generated/serverfeatures_grpc_pb.js');
