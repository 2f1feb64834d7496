// The child engine (see engine.h): device buffers per child slot and the launch sequences of one training step
// (forward, loss and divergence check, backward, the rules' updates) and of an evaluation.  Kernel arguments follow
// native/engine/kernels.cu parameter by parameter; DevPtr arithmetic is in bytes (F() and I() below).
#include "engine/engine.h"

#include <algorithm>
#include <stdexcept>

namespace nos {
namespace engine {

namespace {

constexpr int kScalarCount = 32;       // NOS_SCALAR_COUNT (kernel-abi.ts)
constexpr int kFlagThreads = 256;      // nos_nonfinite_partial's block
// Weight-gradient pieces (see nos_conv3x3_wgrad): conv1 (one input channel) fills its blocks with row groups.
constexpr int kConv1ImageChunk = 4;
constexpr int kConv2ImageChunk = 10;
constexpr int kWgradThreads = 256;
constexpr long long kSlotAlignFloats = 32;  // 128 bytes: a cache line (Engine::stride_)
constexpr long long kMaxChildIndex = 1LL << 31;  // a child's tensors are indexed in 32 bits (CheckShape)
constexpr int kWgradSharedFloats = 12032;  // NOS_WGRAD_SHARED in kernels.cu
constexpr int kConvSharedFloats = 4608;    // NOS_CONV_SHARED in kernels.cu: 72 floats per input channel
// Threads per (channel, image) plane in the batch-norm partial sums: lane j takes elements j, j + 8, ..., so a warp
// reads four planes' 32-byte sectors whole (one thread per plane read 32 planes' sectors 4 bytes at a time).
constexpr int kBnLanes = 8;
constexpr unsigned int kBlock = 128;

DevPtr F(DevPtr p, long long floats) { return p + 4ull * static_cast<unsigned long long>(floats); }
DevPtr I(DevPtr p, long long ints) { return p + 4ull * static_cast<unsigned long long>(ints); }
unsigned int Blocks(long long count, unsigned int block) { return static_cast<unsigned int>((count + block - 1) / block); }
Dim3 Grid(unsigned int x, int kids) {
  Dim3 g;
  g.x = x;
  g.z = static_cast<unsigned int>(kids);
  return g;
}
Dim3 Threads(unsigned int x, unsigned int y = 1) {
  Dim3 b;
  b.x = x;
  b.y = y;
  return b;
}

int Pieces(int count, int chunk) { return (count + chunk - 1) / chunk; }

// How the weight gradient of convnet conv `layer` is cut: blocks of whole rows of img_chunk images, each block
// `groups` row groups of (cout/4) * cin threads, one partial sum per (block, group).  tile_rows: the rows of a slab of
// nos_conv3x3_wgrad_tiled (0: not even one row fits its shared memory), as even as the slabs can be; there are no
// more row groups than it, so that in every slab but the last each group has a row (28 groups on slabs of 12 rows
// left 16 idle).  Both weight-gradient kernels take the same cut, so they add in the same order.
struct WgradPlan {
  int img_chunk, row_chunk, groups, blocks, parts, tile_rows;
  WgradPlan(const ModelShape& s, int batch, int layer) {
    const int cin = layer == 0 ? s.channels : s.filters;
    const int height = s.height >> layer, width = s.width >> layer;
    int fit = 0;
    for (int rows = 1; rows <= height; ++rows) {
      const long long floats = static_cast<long long>(s.filters) * ((rows * width) | 1) + static_cast<long long>(cin) * (((rows + 2) * (width + 2)) | 1);
      if (floats <= kWgradSharedFloats) fit = rows;
    }
    tile_rows = fit == 0 ? 0 : Pieces(height, Pieces(height, fit));
    img_chunk = layer == 0 ? kConv1ImageChunk : kConv2ImageChunk;
    row_chunk = height;
    groups = std::max(1, std::min(std::min(height, kWgradThreads / ((s.filters / 4) * cin)), tile_rows > 0 ? tile_rows : height));
    blocks = Pieces(batch, img_chunk);
    parts = blocks * groups;
  }
};

// Elements (or bytes, for the u8 buffers) of each per-slot buffer.
// A child's slot of `params` floats in the per-slot arrays (Engine::stride_).
long long SlotStride(long long params) { return (params + kSlotAlignFloats - 1) / kSlotAlignFloats * kSlotAlignFloats; }

struct SlotSizes {
  long long params, param_stride, x, logits, hidden, z1, a1, z2, a2, bn, running, bn_part, coef, wgrad_part;
  SlotSizes(const ModelShape& s, int batch) {
    params = LayoutOf(s).total;
    param_stride = SlotStride(params);
    x = static_cast<long long>(batch) * s.features();
    logits = static_cast<long long>(batch) * s.classes;
    hidden = s.kind == ModelShape::kMlp ? static_cast<long long>(batch) * s.hidden : 0;
    const bool conv = s.kind == ModelShape::kConvnet;
    const long long f = s.filters;
    z1 = conv ? batch * f * s.height * s.width : 0;
    a1 = conv ? batch * f * (s.height >> 1) * (s.width >> 1) : 0;  // poolings floor an odd side, as Engine::ConvSlot
    z2 = a1;
    a2 = conv ? batch * f * (s.height >> 2) * (s.width >> 2) : 0;
    bn = conv ? 2 * f : 0;
    running = conv ? 4 * f : 0;
    bn_part = conv ? 2 * f * batch * kBnLanes : 0;
    coef = conv ? 3 * f : 0;
    wgrad_part = conv ? std::max(WgradPlan(s, batch, 0).parts * f * s.channels * 9, WgradPlan(s, batch, 1).parts * f * f * 9) : 0;
  }
};

}  // namespace

Layout LayoutOf(const ModelShape& s) {
  std::vector<long long> sizes;
  if (s.kind == ModelShape::kMlp) {
    sizes = {static_cast<long long>(s.hidden) * s.features(), s.hidden, static_cast<long long>(s.classes) * s.hidden, s.classes};
  } else {
    const long long f = s.filters;
    const long long flat = f * (s.height >> 2) * (s.width >> 2);
    sizes = {f * s.channels * 9, f, f, f * f * 9, f, f, s.classes * flat, s.classes};
  }
  Layout layout;
  for (long long n : sizes) {
    layout.offsets.push_back(layout.total);
    layout.total += n;
  }
  layout.offsets.push_back(layout.total);
  return layout;
}

void CheckShape(const ModelShape& s, int batch) {
  auto fail = [](const std::string& why) { throw std::invalid_argument("child engine: " + why); };
  if (batch < 1 || batch > 4096) fail("batch must be in [1, 4096], got " + std::to_string(batch));
  if (s.channels < 1 || s.height < 1 || s.width < 1 || s.classes < 2 || s.classes > 1024) fail("bad input or class count");
  if (s.kind == ModelShape::kMlp) {
    if (s.hidden < 1) fail("mlp: hidden must be >= 1");
  } else {
    if (s.height < 4 || s.width < 4) fail("convnet: height and width must be at least 4 (two 2x2 poolings)");
    // The weight-gradient kernels run (filters/4) * cin threads per block, and at their 71-77 registers a thread a
    // block of more than 256 would exceed a GPU's 64K registers per block (the launch would fail).
    if (s.filters % 8 != 0 || s.filters < 8 || s.filters > 32) fail("convnet: filters must be a multiple of 8 in [8, 32]");
    if ((s.filters / 4) * s.channels > kWgradThreads) fail("convnet: too many input channels (filters/4 x channels must be at most 256)");
  }
  // The kernels index within a child in 32 bits (kernels.cu, render-children.ts): at a GPU's sizes a larger tensor
  // would wrap around, which the twin's small children never show.
  const SlotSizes z(s, batch);
  const struct {
    const char* what;
    long long elements;
  } tensors[] = {{"parameters", z.params},
                 {"input batch (batch x channels x height x width)", z.x},
                 {"hidden activations (batch x hidden)", z.hidden},
                 {"first convolution's output (batch x filters x height x width)", z.z1},
                 {"weight gradient's partial sums", z.wgrad_part}};
  for (const auto& t : tensors) {
    if (t.elements >= kMaxChildIndex) {
      fail("a child's " + std::string(t.what) + " would hold " + std::to_string(t.elements) +
           " values; the kernels index a child's tensors in 32 bits, so at most 2^31 - 1 (lower the batch or the model's size)");
    }
  }
}

size_t Engine::BytesPerChild(const ModelShape& shape, int batch, int steps_per_round) {
  SlotSizes z(shape, batch);
  const long long floats = z.param_stride * 6 + static_cast<long long>(steps_per_round) * kScalarCount + z.x + z.logits * 2 +
                           batch + z.hidden * 2 + z.z1 * 2 + z.a1 + z.z2 * 3 + z.a2 * 2 + z.bn * 3 + z.running +
                           z.coef + z.wgrad_part;
  const long long ints = batch + 16;
  const long long doubles = z.bn_part + batch + 1;
  const long long bytes = z.a1 + z.a2 + batch + kFlagThreads;
  return static_cast<size_t>(4 * (floats + ints) + 8 * doubles + bytes);
}

Engine::Engine(std::unique_ptr<Device> device, const std::string& kernels_image, const ModelShape& shape, int capacity,
               int batch, int steps_per_round, ConvKernels kernels)
    : device_(std::move(device)), shape_(shape), layout_(LayoutOf(shape)), stride_(SlotStride(layout_.total)),
      capacity_(capacity), batch_(batch),
      steps_per_round_(steps_per_round), kernels_(kernels) {
  CheckShape(shape, batch);
  if (capacity < 1 || capacity > 65535) throw std::invalid_argument("child engine: capacity must be in [1, 65535]");
  if (steps_per_round < 1) throw std::invalid_argument("child engine: steps per round must be >= 1");
  device_->Bind();
  module_ = device_->Load(kernels_image);
  Module& m = *module_;
  k_gather_ = m.Function("nos_gather");
  k_gemm_ = m.Function("nos_gemm");
  k_colsum_ = m.Function("nos_colsum");
  k_sum_parts_ = m.Function("nos_sum_parts");
  k_softmax_xent_ = m.Function("nos_softmax_xent");
  k_loss_check_ = m.Function("nos_loss_check");
  k_conv_ = m.Function("nos_conv3x3");
  k_conv_tiled_ = m.Function("nos_conv3x3_tiled");
  k_conv_wgrad_ = m.Function("nos_conv3x3_wgrad");
  k_conv_wgrad_tiled_ = m.Function("nos_conv3x3_wgrad_tiled");
  SetKernels(kernels);
  k_bn_partial_ = m.Function("nos_bn_stats_partial");
  k_bn_finalize_ = m.Function("nos_bn_stats_finalize");
  k_bn_eval_ = m.Function("nos_bn_eval_params");
  k_bn_pool_relu_ = m.Function("nos_bn_pool_relu");
  k_bn_back_partial_ = m.Function("nos_bn_pool_backward_partial");
  k_bn_back_finalize_ = m.Function("nos_bn_backward_finalize");
  k_bn_back_apply_ = m.Function("nos_bn_pool_backward_apply");
  k_score_rows_ = m.Function("nos_score_rows");
  k_score_total_ = m.Function("nos_score_total");
  k_nonfinite_partial_ = m.Function("nos_nonfinite_partial");
  k_nonfinite_total_ = m.Function("nos_nonfinite_total");

  const SlotSizes z(shape, batch);
  const long long c = capacity;
  try {
    params_ = Alloc(4 * c * stride_);
    grads_ = Alloc(4 * c * stride_);
    for (auto& s : state_) s = Alloc(4 * c * stride_);
    scalars_ = Alloc(4 * c * steps_per_round * kScalarCount);
    dead_ = Alloc(4 * c);
    first_loss_ = Alloc(4 * c);
    last_loss_ = Alloc(4 * c);
    steps_ = Alloc(4 * c);
    t0_ = Alloc(4 * c);
    seeds_ = Alloc(4 * c);
    order_of_ = Alloc(4 * c);
    kids_ = Alloc(4 * c);
    members_ = Alloc(4 * c);
    x_ = Alloc(4 * c * z.x);
    y_ = Alloc(4 * c * batch);
    logits_ = Alloc(4 * c * z.logits);
    dlogits_ = Alloc(4 * c * z.logits);
    picked_ = Alloc(4 * c * batch);
    row_loss_ = Alloc(8 * c * batch);
    row_correct_ = Alloc(c * batch);
    loss_total_ = Alloc(8 * c);
    correct_total_ = Alloc(4 * c);
    nonfinite_flags_ = Alloc(c * kFlagThreads);
    nonfinite_ = Alloc(4 * c);
    if (shape.kind == ModelShape::kMlp) {
      h_ = Alloc(4 * c * z.hidden);
      dh_ = Alloc(4 * c * z.hidden);
    } else {
      z1_ = Alloc(4 * c * z.z1);
      dz1_ = Alloc(4 * c * z.z1);
      a1_ = Alloc(4 * c * z.a1);
      arg1_ = Alloc(c * z.a1);
      da1_ = Alloc(4 * c * z.a1);
      z2_ = Alloc(4 * c * z.z2);
      dz2_ = Alloc(4 * c * z.z2);
      a2_ = Alloc(4 * c * z.a2);
      arg2_ = Alloc(c * z.a2);
      da2_ = Alloc(4 * c * z.a2);
      bn_mean_ = Alloc(4 * c * z.bn);
      bn_var_ = Alloc(4 * c * z.bn);
      bn_invstd_ = Alloc(4 * c * z.bn);
      running_ = Alloc(4 * c * z.running);
      bn_part_ = Alloc(8 * c * z.bn_part);
      bn_coef_ = Alloc(4 * c * z.coef);
      wgrad_part_ = Alloc(4 * c * z.wgrad_part);
    }
  } catch (...) {
    for (DevPtr p : allocations_) device_->Free(p);
    allocations_.clear();
    throw;
  }
  host_t0_.assign(capacity, 0);
  host_seeds_.assign(capacity, 0);
  host_order_of_.assign(capacity, 0);
}

Engine::~Engine() {
  try {
    device_->Bind();
  } catch (...) {
  }
  for (DevPtr p : allocations_) device_->Free(p);
  rules_.clear();
  module_.reset();
}

DevPtr Engine::Alloc(size_t bytes) {
  DevPtr p = device_->Alloc(bytes);
  allocations_.push_back(p);
  return p;
}

void Engine::SetData(const float* train, const int* train_labels, int train_count, const float* validation,
                     const int* validation_labels, int validation_count) {
  device_->Bind();
  const long long d = shape_.features();
  for (DevPtr* p : {&train_, &train_labels_, &validation_, &validation_labels_}) {
    if (*p) {
      device_->Free(*p);
      allocations_.erase(std::find(allocations_.begin(), allocations_.end(), *p));
      *p = 0;
    }
  }
  train_ = Alloc(4 * d * train_count);
  train_labels_ = Alloc(4ull * train_count);
  validation_ = Alloc(4 * d * validation_count);
  validation_labels_ = Alloc(4ull * validation_count);
  device_->Upload(train_, train, 4 * d * train_count);
  device_->Upload(train_labels_, train_labels, 4ull * train_count);
  device_->Upload(validation_, validation, 4 * d * validation_count);
  device_->Upload(validation_labels_, validation_labels, 4ull * validation_count);
  train_count_ = train_count;
  validation_count_ = validation_count;
}

std::unique_ptr<Engine::RuleKernel> Engine::LoadRule(const std::string& image, int groups, int block) {
  device_->Bind();
  std::unique_ptr<RuleKernel> kernel(new RuleKernel());
  kernel->groups = groups;
  kernel->block = block;
  kernel->module = device_->Load(image);
  kernel->function = kernel->module->Function("nos_update_children");
  return kernel;
}

int Engine::AddRule(std::unique_ptr<RuleKernel> kernel) {
  std::lock_guard<std::mutex> lock(rules_mutex_);
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (!rules_[i]) {
      rules_[i] = std::move(kernel);
      return static_cast<int>(i);
    }
  }
  rules_.push_back(std::move(kernel));
  return static_cast<int>(rules_.size() - 1);
}

void Engine::DropRule(int rule) {
  std::unique_ptr<RuleKernel> dropped;
  {
    std::lock_guard<std::mutex> lock(rules_mutex_);
    if (rule < 0 || rule >= static_cast<int>(rules_.size()) || !rules_[rule]) throw std::invalid_argument("no such rule handle");
    dropped = std::move(rules_[rule]);
  }
  device_->Bind();
  dropped.reset();
}

void Engine::Start(const std::vector<int>& slots, const float* params) {
  device_->Bind();
  const long long p = layout_.total;
  std::vector<float> running(4 * static_cast<size_t>(shape_.filters));
  for (int f = 0; f < shape_.filters; ++f) {
    running[shape_.filters + f] = 1.0f;
    running[3 * shape_.filters + f] = 1.0f;
  }
  const int zero = 0;
  for (size_t i = 0; i < slots.size(); ++i) {
    const long long slot = slots[i];
    device_->Upload(F(params_, slot * stride_), params + i * p, 4 * p);
    device_->Zero(F(grads_, slot * stride_), 4 * stride_);
    for (DevPtr s : state_) device_->Zero(F(s, slot * stride_), 4 * stride_);
    if (running_) device_->Upload(F(running_, slot * 4 * shape_.filters), running.data(), 4 * running.size());
    device_->Upload(I(dead_, slot), &zero, 4);
    device_->Upload(I(steps_, slot), &zero, 4);
  }
}

size_t Engine::FieldSize(int field) const {
  if (field >= kParams && field < kRunningStats) return static_cast<size_t>(layout_.total);
  if (field == kRunningStats) return shape_.kind == ModelShape::kConvnet ? 4 * static_cast<size_t>(shape_.filters) : 0;
  throw std::invalid_argument("field must be 0 (params), 1 (grads), 2..5 (state slots) or 6 (running statistics)");
}

static DevPtr FieldBase(int field, DevPtr params, DevPtr grads, const DevPtr* state, DevPtr running) {
  if (field == kParams) return params;
  if (field == kGrads) return grads;
  if (field == kRunningStats) return running;
  return state[field - kState0];
}

// Where slot `slot`'s `field` starts in its array (FieldSize says how many floats it has).
DevPtr Engine::FieldAt(int slot, int field) const {
  const long long stride = field == kRunningStats ? static_cast<long long>(FieldSize(field)) : stride_;
  return F(FieldBase(field, params_, grads_, state_, running_), static_cast<long long>(slot) * stride);
}

void Engine::Read(int slot, int field, float* out) {
  device_->Bind();
  device_->Download(out, FieldAt(slot, field), 4 * FieldSize(field));
}

void Engine::Write(int slot, int field, const float* in) {
  device_->Bind();
  device_->Upload(FieldAt(slot, field), in, 4 * FieldSize(field));
}

void Engine::Gemm(int kids, int M, int N, int K, DevPtr A, long long a_slot, long long sam, long long sak, DevPtr B,
                  long long b_slot, long long sbn, long long sbk, DevPtr out, long long o_slot, long long som,
                  DevPtr bias, long long bias_slot, int relu, DevPtr mask, long long mask_slot) {
  Dim3 grid = Grid(Blocks(N, 64), kids);
  grid.y = Blocks(M, 64);
  Launch(*device_, k_gemm_, grid, Threads(16, 16), kids_, dead_, M, N, K, A, a_slot, sam, sak, B, b_slot, sbn, sbk, out,
         o_slot, som, bias, bias_slot, relu, mask, mask_slot);
}

long long Engine::ConvSlot(int pools) const {
  return static_cast<long long>(batch_) * shape_.filters * (shape_.height >> pools) * (shape_.width >> pools);
}

// Layer `layer` (0 or 1) of the convnet: its batch-norm parameters, statistics and spatial size.
void Engine::BnPoolRelu(int kids, int rows, int layer, DevPtr z, DevPtr a, DevPtr arg, bool train) {
  const int f = shape_.filters;
  const int h = shape_.height >> layer, w = shape_.width >> layer;
  const long long z_slot = ConvSlot(layer), a_slot = ConvSlot(layer + 1);
  const long long p = stride_;  // a child's slot in params_ and grads_
  const DevPtr dead = train ? dead_ : 0;
  if (train) {
    const long long part_slot = 2LL * f * batch_ * kBnLanes;
    Launch(*device_, k_bn_partial_, Grid(Blocks(static_cast<long long>(f) * rows * kBnLanes, kBlock), kids), Threads(kBlock),
           kids_, dead, rows, f, h * w, kBnLanes, z, z_slot, bn_part_, part_slot);
    Launch(*device_, k_bn_finalize_, Grid(Blocks(f, 32), kids), Threads(32), kids_, dead, rows, f, h * w, kBnLanes, bn_part_,
           part_slot, static_cast<float>(shape_.bn_eps), shape_.bn_momentum, F(bn_mean_, layer * f),
           F(bn_var_, layer * f), F(bn_invstd_, layer * f), 2LL * f, F(running_, 2LL * layer * f),
           F(running_, 2LL * layer * f + f), 4LL * f);
  }
  const int gamma_at = static_cast<int>(layout_.offsets[1 + 3 * layer]);
  const int beta_at = static_cast<int>(layout_.offsets[2 + 3 * layer]);
  Launch(*device_, k_bn_pool_relu_, Grid(Blocks(a_slot / batch_ * rows, kBlock), kids), Threads(kBlock), kids_, dead,
         rows, f, h, w, z, z_slot, F(bn_mean_, layer * f), F(bn_invstd_, layer * f), 2LL * f, params_, p, gamma_at,
         beta_at, a, a_slot, arg, a_slot);
}

void Engine::Forward(int rows, bool train, DevPtr x, long long x_slot, DevPtr labels, long long y_slot, int kids) {
  const long long p = stride_;  // a child's slot in params_ and grads_
  const auto& off = layout_.offsets;
  const int cls = shape_.classes;
  const long long l_slot = static_cast<long long>(batch_) * cls;
  const DevPtr dead = train ? dead_ : 0;
  if (shape_.kind == ModelShape::kMlp) {
    const int hid = shape_.hidden, d = shape_.features();
    const long long h_slot = static_cast<long long>(batch_) * hid;
    Gemm(kids, rows, hid, d, x, x_slot, d, 1, F(params_, off[0]), p, d, 1, h_, h_slot, hid, F(params_, off[1]), p, 1, 0, 0);
    Gemm(kids, rows, cls, hid, h_, h_slot, hid, 1, F(params_, off[2]), p, hid, 1, logits_, l_slot, cls, F(params_, off[3]), p, 0, 0, 0);
  } else {
    const int f = shape_.filters, h = shape_.height, w = shape_.width;
    const long long z1_slot = ConvSlot(0), z2_slot = ConvSlot(1), a2_slot = ConvSlot(2);
    const long long flat = a2_slot / batch_;
    Conv(kids, dead, 0, rows, shape_.channels, h, w, x, x_slot, F(params_, off[0]), 0, z1_, z1_slot);
    BnPoolRelu(kids, rows, 0, z1_, a1_, train ? arg1_ : 0, train);
    Conv(kids, dead, 1, rows, f, h >> 1, w >> 1, a1_, z2_slot, F(params_, off[3]), 0, z2_, z2_slot);
    BnPoolRelu(kids, rows, 1, z2_, a2_, train ? arg2_ : 0, train);
    Gemm(kids, rows, cls, static_cast<int>(flat), a2_, a2_slot, flat, 1, F(params_, off[6]), p, flat, 1, logits_, l_slot,
         cls, F(params_, off[7]), p, 0, 0, 0);
  }
  (void)labels;
  (void)y_slot;
}

// Backward through ReLU, max pool and batch norm of convnet layer `layer`: dgamma, dbeta into the gradients, dz.
void Engine::BnPoolBackward(int kids, int layer, DevPtr da, DevPtr a, DevPtr arg, DevPtr z, DevPtr dz) {
  const int f = shape_.filters;
  const int h = shape_.height >> layer, w = shape_.width >> layer;
  const long long z_slot = ConvSlot(layer), a_slot = ConvSlot(layer + 1);
  const long long part_slot = 2LL * f * batch_ * kBnLanes;
  const long long p = stride_;  // a child's slot in params_ and grads_
  Launch(*device_, k_bn_back_partial_, Grid(Blocks(static_cast<long long>(f) * batch_ * kBnLanes, kBlock), kids),
         Threads(kBlock), kids_, dead_, batch_, f, h, w, kBnLanes, da, a, arg, a_slot, z, z_slot, F(bn_mean_, layer * f),
         2LL * f, bn_part_, part_slot);
  const int gamma_at = static_cast<int>(layout_.offsets[1 + 3 * layer]);
  const int beta_at = static_cast<int>(layout_.offsets[2 + 3 * layer]);
  Launch(*device_, k_bn_back_finalize_, Grid(Blocks(f, 32), kids), Threads(32), kids_, dead_, batch_, f, h * w, kBnLanes, bn_part_,
         part_slot, F(bn_invstd_, layer * f), 2LL * f, params_, grads_, p, gamma_at, beta_at, bn_coef_, 3LL * f);
  Launch(*device_, k_bn_back_apply_, Grid(Blocks(a_slot, kBlock), kids), Threads(kBlock), kids_, dead_, batch_, f, h, w,
         da, a, arg, a_slot, z, z_slot, F(bn_mean_, layer * f), 2LL * f, bn_coef_, 3LL * f, dz);
}

void Engine::SetKernels(const ConvKernels& kernels) {
  for (int layer = 0; layer < kConvLayers; ++layer) {
    if (kernels.tiled_wgrad[layer] && shape_.kind == ModelShape::kConvnet && WgradPlan(shape_, batch_, layer).tile_rows == 0) {
      throw std::invalid_argument("child engine: the convnet's rows are too wide for the tiled weight gradient's shared " +
                                  std::string("memory in convolution ") + std::to_string(layer + 1) + "; use the direct one");
    }
  }
  kernels_ = kernels;
}

void Engine::Conv(int kids, DevPtr dead, int layer, int rows, int cin, int height, int width, DevPtr in, long long in_slot,
                  DevPtr weight, int flip, DevPtr out, long long out_slot) {
  const int f = shape_.filters;
  Dim3 grid = Grid(Blocks(static_cast<long long>(rows) * ((height + 1) / 2) * ((width + 1) / 2), kBlock), kids);  // 2x2 pixels a thread
  grid.y = static_cast<unsigned int>(f / 8);
  void* kernel = kernels_.tiled_conv[layer] && cin * 72 <= kConvSharedFloats ? k_conv_tiled_ : k_conv_;
  Launch(*device_, kernel, grid, Threads(kBlock), kids_, dead, rows, cin, f, height, width, in, in_slot, weight,
         stride_, flip, out, out_slot);
}

// Weight gradient of convnet conv `layer` (input `in`, output gradient dz), through per-piece partial sums.
void Engine::ConvWeightGrad(int kids, int layer, DevPtr in, long long in_slot, DevPtr dz) {
  const int f = shape_.filters;
  const int cin = layer == 0 ? shape_.channels : f;
  const int h = shape_.height >> layer, w = shape_.width >> layer;
  const WgradPlan plan(shape_, batch_, layer);
  const long long part_slot = SlotSizes(shape_, batch_).wgrad_part;
  const long long dz_slot = ConvSlot(layer);
  const int len = f * cin * 9;
  const bool tiled = kernels_.tiled_wgrad[layer];
  Launch(*device_, tiled ? k_conv_wgrad_tiled_ : k_conv_wgrad_, Grid(static_cast<unsigned int>(plan.blocks), kids),
         Threads(static_cast<unsigned int>(plan.groups * (f / 4) * cin)), kids_, dead_, batch_, cin, f, h, w, in, in_slot, dz,
         dz_slot, plan.img_chunk, tiled ? plan.tile_rows : plan.row_chunk, plan.groups, wgrad_part_,
         part_slot);
  Launch(*device_, k_sum_parts_, Grid(Blocks(len, kBlock), kids), Threads(kBlock), kids_, dead_, plan.parts, len, wgrad_part_,
         part_slot, F(grads_, layout_.offsets[layer == 0 ? 0 : 3]), stride_);
}

void Engine::Backward(int kids) {
  const long long p = stride_;  // a child's slot in params_ and grads_
  const auto& off = layout_.offsets;
  const int cls = shape_.classes, b = batch_;
  const long long l_slot = static_cast<long long>(b) * cls;
  if (shape_.kind == ModelShape::kMlp) {
    const int hid = shape_.hidden, d = shape_.features();
    const long long h_slot = static_cast<long long>(b) * hid, x_slot = static_cast<long long>(b) * d;
    Gemm(kids, cls, hid, b, dlogits_, l_slot, 1, cls, h_, h_slot, 1, hid, F(grads_, off[2]), p, hid, 0, 0, 0, 0, 0);
    Launch(*device_, k_colsum_, Grid(Blocks(cls, kBlock), kids), Threads(kBlock), kids_, dead_, b, cls, dlogits_, l_slot,
           static_cast<long long>(cls), F(grads_, off[3]), p);
    Gemm(kids, b, hid, cls, dlogits_, l_slot, cls, 1, F(params_, off[2]), p, 1, hid, dh_, h_slot, hid, 0, 0, 0, h_, h_slot);
    Gemm(kids, hid, d, b, dh_, h_slot, 1, hid, x_, x_slot, 1, d, F(grads_, off[0]), p, d, 0, 0, 0, 0, 0);
    Launch(*device_, k_colsum_, Grid(Blocks(hid, kBlock), kids), Threads(kBlock), kids_, dead_, b, hid, dh_, h_slot,
           static_cast<long long>(hid), F(grads_, off[1]), p);
    return;
  }
  const int f = shape_.filters, h = shape_.height, w = shape_.width;
  const long long z2_slot = ConvSlot(1), a2_slot = ConvSlot(2);
  const long long flat = a2_slot / b;
  Gemm(kids, cls, static_cast<int>(flat), b, dlogits_, l_slot, 1, cls, a2_, a2_slot, 1, flat, F(grads_, off[6]), p, flat,
       0, 0, 0, 0, 0);
  Launch(*device_, k_colsum_, Grid(Blocks(cls, kBlock), kids), Threads(kBlock), kids_, dead_, b, cls, dlogits_, l_slot,
         static_cast<long long>(cls), F(grads_, off[7]), p);
  Gemm(kids, b, static_cast<int>(flat), cls, dlogits_, l_slot, cls, 1, F(params_, off[6]), p, 1, flat, da2_, a2_slot, flat,
       0, 0, 0, 0, 0);
  BnPoolBackward(kids, 1, da2_, a2_, arg2_, z2_, dz2_);
  ConvWeightGrad(kids, 1, a1_, z2_slot, dz2_);
  Conv(kids, dead_, 1, b, f, h >> 1, w >> 1, dz2_, z2_slot, F(params_, off[3]), 1, da1_, z2_slot);
  BnPoolBackward(kids, 0, da1_, a1_, arg1_, z1_, dz1_);
  ConvWeightGrad(kids, 0, x_, static_cast<long long>(b) * shape_.features(), dz1_);
}

RoundOutput Engine::RunRound(const RoundInput& in, const std::atomic<bool>& cancel) {
  device_->Bind();
  const int nk = static_cast<int>(in.kids.size());
  const long long p = layout_.total;
  for (int k = 0; k < nk; ++k) {
    const int slot = in.kids[k];
    host_t0_[slot] = in.t0[k];
    host_seeds_[slot] = in.seeds[k];
    host_order_of_[slot] = in.order_of[k];
  }
  device_->Upload(t0_, host_t0_.data(), 4ull * capacity_);
  device_->Upload(seeds_, host_seeds_.data(), 4ull * capacity_);
  device_->Upload(order_of_, host_order_of_.data(), 4ull * capacity_);
  device_->Upload(kids_, in.kids.data(), 4ull * nk);
  std::vector<int> members;
  std::vector<std::pair<int, int>> spans;  // (first, count) into members, per group
  for (const auto& g : in.groups) {
    spans.emplace_back(static_cast<int>(members.size()), static_cast<int>(g.members.size()));
    for (int m : g.members) members.push_back(in.kids[m]);
  }
  if (!members.empty()) device_->Upload(members_, members.data(), 4 * members.size());
  const size_t orders_bytes = 4 * in.orders.size();
  if (orders_bytes > orders_bytes_) {
    if (orders_) {
      device_->Free(orders_);
      allocations_.erase(std::find(allocations_.begin(), allocations_.end(), orders_));
    }
    orders_ = Alloc(orders_bytes);
    orders_bytes_ = orders_bytes;
  }
  if (orders_bytes) device_->Upload(orders_, in.orders.data(), orders_bytes);
  const long long scalar_slot = static_cast<long long>(steps_per_round_) * kScalarCount;
  for (int k = 0; k < nk; ++k) {
    device_->Upload(F(scalars_, in.kids[k] * scalar_slot), in.scalars.data() + static_cast<size_t>(k) * in.steps * kScalarCount,
                    4ull * in.steps * kScalarCount);
  }
  std::vector<RuleKernel> kernels;  // function and layout only (the modules stay in rules_)
  {
    std::lock_guard<std::mutex> lock(rules_mutex_);
    for (const auto& g : in.groups) {
      if (g.rule < 0 || g.rule >= static_cast<int>(rules_.size()) || !rules_[g.rule]) {
        throw std::invalid_argument("rule handle " + std::to_string(g.rule) + " is not loaded");
      }
      const RuleKernel& k = *rules_[g.rule];
      kernels.push_back(RuleKernel{nullptr, k.function, k.groups, k.block});
    }
  }
  for (int s = 0; s < in.steps && !cancel.load(std::memory_order_relaxed); ++s) {
    if (!in.update_only) TrainStep(s, in, nk);
    if (!in.update) continue;
    for (size_t g = 0; g < in.groups.size(); ++g) {
      if (spans[g].second == 0) continue;
      const RuleKernel& k = kernels[g];
      // Groups of four consecutive elements with 16-byte accesses (CHILDREN_UPDATE_WIDTH in render-children.ts), so
      // the rule's per-child prologue (scalars, sign tables) is paid once per group; a thread for every `groups`
      // groups and for the up to 6 single elements of the child's unaligned head and tail: one pass.
      Dim3 grid = Grid(Blocks((p / 4 + k.groups - 1) / k.groups + 8, k.block), spans[g].second);
      Launch(*device_, k.function, grid, Threads(k.block), I(members_, spans[g].first), dead_, p, params_, grads_, state_[0],
             state_[1], state_[2], state_[3], stride_, scalars_, scalar_slot, s, seeds_, t0_);
    }
  }
  device_->Synchronize();
  return Collect(in.kids);
}

// Gather, forward, loss and divergence check, backward: step s of the round for every kid.
void Engine::TrainStep(int s, const RoundInput& in, int nk) {
  const int d = shape_.features();
  const long long x_slot = static_cast<long long>(batch_) * d;
  const long long l_slot = static_cast<long long>(batch_) * shape_.classes;
  Launch(*device_, k_gather_, Grid(Blocks(x_slot, 256), nk), Threads(256), kids_, dead_, train_, train_labels_, orders_,
         order_of_, in.order_len, s, batch_, d, x_, x_slot, y_, static_cast<long long>(batch_));
  Forward(batch_, true, x_, x_slot, y_, batch_, nk);
  Launch(*device_, k_softmax_xent_, Grid(Blocks(batch_, kBlock), nk), Threads(kBlock), kids_, dead_, batch_,
         shape_.classes, logits_, l_slot, y_, static_cast<long long>(batch_), static_cast<float>(1.0 / batch_), picked_,
         static_cast<long long>(batch_), dlogits_, l_slot);
  Launch(*device_, k_loss_check_, Grid(1, nk), Threads(1), kids_, dead_, batch_, picked_, static_cast<long long>(batch_),
         t0_, s, in.divergence_factor, first_loss_, last_loss_, steps_);
  Backward(nk);
}

RoundOutput Engine::Collect(const std::vector<int>& kids) {
  std::vector<int> dead(capacity_);
  std::vector<float> first(capacity_), last(capacity_);
  std::vector<unsigned int> steps(capacity_);
  device_->Download(dead.data(), dead_, 4ull * capacity_);
  device_->Download(first.data(), first_loss_, 4ull * capacity_);
  device_->Download(last.data(), last_loss_, 4ull * capacity_);
  device_->Download(steps.data(), steps_, 4ull * capacity_);
  RoundOutput out;
  for (int slot : kids) {
    out.dead.push_back(dead[slot]);
    out.first_loss.push_back(first[slot]);
    out.last_loss.push_back(last[slot]);
    out.steps.push_back(steps[slot]);
  }
  return out;
}

EvalOutput Engine::Evaluate(const std::vector<int>& kids, const std::atomic<bool>& cancel) {
  device_->Bind();
  const int nk = static_cast<int>(kids.size());
  device_->Upload(kids_, kids.data(), 4ull * nk);
  device_->Zero(loss_total_, 8ull * capacity_);
  device_->Zero(correct_total_, 4ull * capacity_);
  if (shape_.kind == ModelShape::kConvnet) {
    const int f = shape_.filters;
    for (int layer = 0; layer < 2; ++layer) {
      Launch(*device_, k_bn_eval_, Grid(Blocks(f, 32), nk), Threads(32), kids_, f, F(running_, 2LL * layer * f),
             F(running_, 2LL * layer * f + f), 4LL * f, static_cast<float>(shape_.bn_eps), F(bn_mean_, layer * f),
             F(bn_invstd_, layer * f), 2LL * f);
    }
  }
  const int d = shape_.features();
  for (int start = 0; start < validation_count_ && !cancel.load(std::memory_order_relaxed); start += batch_) {
    const int rows = std::min(batch_, validation_count_ - start);
    const DevPtr labels = I(validation_labels_, start);
    Forward(rows, false, F(validation_, static_cast<long long>(start) * d), 0, labels, 0, nk);
    const long long l_slot = static_cast<long long>(batch_) * shape_.classes;
    Launch(*device_, k_score_rows_, Grid(Blocks(rows, kBlock), nk), Threads(kBlock), kids_, rows, shape_.classes, logits_,
           l_slot, labels, row_loss_, row_correct_, static_cast<long long>(batch_));
    Launch(*device_, k_score_total_, Grid(1, nk), Threads(1), kids_, rows, row_loss_, row_correct_,
           static_cast<long long>(batch_), loss_total_, correct_total_);
  }
  Launch(*device_, k_nonfinite_partial_, Grid(1, nk), Threads(kFlagThreads), kids_, layout_.total, params_, stride_,
         nonfinite_flags_, static_cast<long long>(kFlagThreads));
  Launch(*device_, k_nonfinite_total_, Grid(1, nk), Threads(1), kids_, kFlagThreads, nonfinite_flags_,
         static_cast<long long>(kFlagThreads), nonfinite_);
  device_->Synchronize();
  std::vector<unsigned int> correct(capacity_);
  std::vector<double> loss(capacity_);
  std::vector<int> nonfinite(capacity_);
  device_->Download(correct.data(), correct_total_, 4ull * capacity_);
  device_->Download(loss.data(), loss_total_, 8ull * capacity_);
  device_->Download(nonfinite.data(), nonfinite_, 4ull * capacity_);
  EvalOutput out;
  for (int slot : kids) {
    out.correct.push_back(correct[slot]);
    out.loss_sum.push_back(loss[slot]);
    out.nonfinite.push_back(nonfinite[slot]);
  }
  return out;
}

}  // namespace engine
}  // namespace nos
