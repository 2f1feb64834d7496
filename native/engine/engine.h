// The child engine: many small networks (the paper's convnet or the quick MLP) trained side by side on one device,
// each in its own slot with its own weights, gradients, batch-norm statistics, optimizer state, learning rate and
// divergence flag.  Everything lives on the device; per step only the launches go in, per round (one epoch) only
// the children's example orders and step scalars go in and their losses and flags come out.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/device.h"

namespace nos {
namespace engine {

struct ModelShape {
  enum Kind { kMlp, kConvnet } kind = kMlp;
  int channels = 1, height = 28, width = 28, classes = 10;
  int hidden = 100;   // mlp
  int filters = 32;   // convnet
  double bn_eps = 1e-5, bn_momentum = 0.1;  // models.ts BN_EPS, BN_MOMENTUM
  int features() const { return channels * height * width; }
};

// Where each parameter tensor lies in a child's flat parameter vector (models.ts order).
struct Layout {
  std::vector<long long> offsets;  // one per tensor, then the total
  long long total = 0;
};
Layout LayoutOf(const ModelShape& shape);
// Throws std::invalid_argument when the engine's kernels cannot run this shape.
void CheckShape(const ModelShape& shape, int batch);

// Per-child inputs of one round, indexed like `kids` (slot numbers).
struct RoundInput {
  std::vector<int> kids;
  std::vector<unsigned int> orders;   // distinct example orders, each order_len long
  int order_len = 0;
  std::vector<int> order_of;          // per kid: which order
  std::vector<unsigned int> t0;       // per kid: updates done before this round
  std::vector<unsigned int> seeds;    // per kid: the rule's seed (Philox key)
  std::vector<float> scalars;         // per kid: steps x 32 step scalars (kernel-abi.ts)
  struct Group {
    int rule;                         // from AddRule
    std::vector<int> members;         // indices into kids
  };
  std::vector<Group> groups;
  int steps = 0;
  bool update = true;
  // Only the rules' updates, from the gradients already in the slots (benchmarks and tests of the update alone).
  bool update_only = false;
  // A loss above this multiple of the run's first loss is divergence (train-loop.ts).
  double divergence_factor = 1e3;
};

struct RoundOutput {
  std::vector<int> dead;
  std::vector<float> first_loss, last_loss;
  std::vector<unsigned int> steps;
};

struct EvalOutput {
  std::vector<unsigned int> correct;
  std::vector<double> loss_sum;
  std::vector<int> nonfinite;
};

enum Field { kParams = 0, kGrads = 1, kState0 = 2, kRunningStats = 6 };

// The convnet's convolution layers (ModelShape::kConvnet).
constexpr int kConvLayers = 2;

// Which kernels compute each convolution layer (kernels.cu): each tiled kernel gives its direct twin's bits, staging
// what a block shares in shared memory (nos_conv3x3_tiled: the weights; nos_conv3x3_wgrad_tiled: the images).  Per
// layer, as cuDNN picks an algorithm per convolution: the layers' shapes differ, and so may their faster variant.
struct ConvKernels {
  bool tiled_conv[kConvLayers] = {false, false};   // forward, and input gradient (the second layer has one)
  bool tiled_wgrad[kConvLayers] = {false, false};  // weight gradient
};

class Engine {
 public:
  // kernels: the engine module (kernels.cu) loaded on `device`.  steps_per_round: scalar rows kept per child.
  Engine(std::unique_ptr<Device> device, const std::string& kernels_image, const ModelShape& shape, int capacity,
         int batch, int steps_per_round, ConvKernels kernels = ConvKernels());
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Device& device() { return *device_; }
  const Layout& layout() const { return layout_; }
  int capacity() const { return capacity_; }
  const ModelShape& shape() const { return shape_; }
  int batch() const { return batch_; }
  int steps_per_round() const { return steps_per_round_; }
  int train_count() const { return train_count_; }
  int validation_count() const { return validation_count_; }
  // Device bytes one child slot takes (for sizing).
  static size_t BytesPerChild(const ModelShape& shape, int batch, int steps_per_round);

  void SetData(const float* train, const int* train_labels, int train_count, const float* validation,
               const int* validation_labels, int validation_count);
  // A rule's update module (kernel nos_update_children) loaded on the device; LoadRule may run on any thread,
  // even while a round runs, so building rules overlaps training.
  // `groups` and `block` are the layout the module was rendered for (UpdateLayout in render-children.ts): groups of
  // four elements per thread, threads per block.
  struct RuleKernel {
    std::unique_ptr<Module> module;
    void* function = nullptr;
    int groups = 1;
    int block = 256;
  };
  std::unique_ptr<RuleKernel> LoadRule(const std::string& image, int groups, int block);
  // Registers a loaded rule; returns its handle for RoundInput::Group.
  int AddRule(std::unique_ptr<RuleKernel> kernel);
  int AddRule(const std::string& image, int groups, int block) { return AddRule(LoadRule(image, groups, block)); }
  // Not while a round that uses the rule runs (its module is unloaded).
  void DropRule(int rule);
  // Fresh children in `slots`: their parameters (slots.size() x layout().total), zero gradients and optimizer state,
  // running statistics (mean 0, variance 1), alive.
  void Start(const std::vector<int>& slots, const float* params);
  // The convolution kernels of later rounds; throws std::invalid_argument when the model cannot use them.
  void SetKernels(const ConvKernels& kernels);
  const ConvKernels& kernels() const { return kernels_; }
  RoundOutput RunRound(const RoundInput& in, const std::atomic<bool>& cancel);
  EvalOutput Evaluate(const std::vector<int>& kids, const std::atomic<bool>& cancel);
  // One slot's field (Field; kState0 + s for state slot s) to or from the host; count checked by the caller.
  size_t FieldSize(int field) const;
  void Read(int slot, int field, float* out);
  void Write(int slot, int field, const float* in);

 private:
  struct Buffer {
    DevPtr ptr = 0;
    long long slot = 0;  // elements per slot (0: shared)
  };
  DevPtr Alloc(size_t bytes);
  // The 3x3 convolution of convolution layer `layer` (its kernel choice): `rows` images (cin channels, height x
  // width) into f channels; flip: the input gradient of one whose weight is [cin][f][3][3].
  void Conv(int kids, DevPtr dead, int layer, int rows, int cin, int height, int width, DevPtr in, long long in_slot,
            DevPtr weight, int flip, DevPtr out, long long out_slot);
  void TrainStep(int step, const RoundInput& in, int kids);
  RoundOutput Collect(const std::vector<int>& kids);
  void Forward(int rows, bool train, DevPtr x, long long x_slot, DevPtr labels, long long y_slot, int kids);
  void Backward(int kids);
  void Gemm(int kids, int M, int N, int K, DevPtr A, long long a_slot, long long sam, long long sak, DevPtr B,
            long long b_slot, long long sbn, long long sbk, DevPtr out, long long o_slot, long long som, DevPtr bias,
            long long bias_slot, int relu, DevPtr mask, long long mask_slot);
  DevPtr FieldAt(int slot, int field) const;
  void BnPoolRelu(int kids, int rows, int layer, DevPtr z, DevPtr a, DevPtr arg, bool train);
  // A child's convnet activations after `pools` 2x2 poolings (floored): batch x filters x (H >> pools) x (W >> pools).
  long long ConvSlot(int pools) const;
  void BnPoolBackward(int kids, int layer, DevPtr da, DevPtr a, DevPtr arg, DevPtr z, DevPtr dz);
  void ConvWeightGrad(int kids, int layer, DevPtr in, long long in_slot, DevPtr dz);

  std::unique_ptr<Device> device_;
  std::unique_ptr<Module> module_;
  std::mutex rules_mutex_;  // rules_ changes on the JS thread while a round reads it on another
  std::vector<std::unique_ptr<RuleKernel>> rules_;
  ModelShape shape_;
  Layout layout_;
  // A child's slot in params_, grads_ and state_: layout_.total rounded up to kSlotAlignFloats, so every child's arrays
  // start 128-byte aligned (the update's 16-byte accesses then fill whole cache lines, with no unaligned head).
  long long stride_;
  int capacity_, batch_, steps_per_round_;
  ConvKernels kernels_;
  std::vector<DevPtr> allocations_;
  std::vector<unsigned int> host_t0_, host_seeds_;
  std::vector<int> host_order_of_;

  // Kernels of the engine module.
  void *k_gather_, *k_gemm_, *k_colsum_, *k_sum_parts_, *k_softmax_xent_, *k_loss_check_, *k_conv_, *k_conv_tiled_, *k_conv_wgrad_, *k_conv_wgrad_tiled_,
      *k_bn_partial_, *k_bn_finalize_, *k_bn_eval_, *k_bn_pool_relu_, *k_bn_back_partial_, *k_bn_back_finalize_,
      *k_bn_back_apply_, *k_score_rows_, *k_score_total_, *k_nonfinite_partial_, *k_nonfinite_total_;

  // Per slot: parameters, gradients, optimizer state (4 slots), step scalars, bookkeeping.
  DevPtr params_ = 0, grads_ = 0, state_[4] = {0, 0, 0, 0}, scalars_ = 0;
  DevPtr dead_ = 0, first_loss_ = 0, last_loss_ = 0, steps_ = 0, t0_ = 0, seeds_ = 0, order_of_ = 0;
  DevPtr kids_ = 0, members_ = 0, orders_ = 0;
  size_t orders_bytes_ = 0;
  // Data.
  DevPtr train_ = 0, train_labels_ = 0, validation_ = 0, validation_labels_ = 0;
  int train_count_ = 0, validation_count_ = 0;
  // Activations and gradients of one batch per slot.
  DevPtr x_ = 0, y_ = 0, logits_ = 0, dlogits_ = 0, picked_ = 0;
  DevPtr h_ = 0, dh_ = 0;                                          // mlp
  DevPtr z1_ = 0, a1_ = 0, arg1_ = 0, z2_ = 0, a2_ = 0, arg2_ = 0;  // convnet forward
  DevPtr da2_ = 0, dz2_ = 0, da1_ = 0, dz1_ = 0;                    // convnet backward
  DevPtr bn_mean_ = 0, bn_var_ = 0, bn_invstd_ = 0, running_ = 0, bn_part_ = 0, bn_coef_ = 0, wgrad_part_ = 0;
  DevPtr row_loss_ = 0, row_correct_ = 0, loss_total_ = 0, correct_total_ = 0, nonfinite_flags_ = 0, nonfinite_ = 0;
};

}  // namespace engine
}  // namespace nos
