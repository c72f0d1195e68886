// A small matrix (a fixture of `codefill eval fim`).
#include <stdexcept>
#include <vector>

namespace fixture {

class Matrix {
  public:
    Matrix(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols), data_(rows * cols) {}

    double &at(std::size_t r, std::size_t c) {
        if (r >= rows_ || c >= cols_) {
            throw std::out_of_range("Matrix::at");
        }
        return data_[r * cols_ + c];
    }

    Matrix transposed() const {
        Matrix out(cols_, rows_);
        for (std::size_t r = 0; r < rows_; ++r) {
            for (std::size_t c = 0; c < cols_; ++c) {
                out.data_[c * rows_ + r] = data_[r * cols_ + c];
            }
        }
        return out;
    }

  private:
    std::size_t rows_;
    std::size_t cols_;
    std::vector<double> data_;
};

}  // namespace fixture
