// Empty translation unit of the per-stage layering check libraries (see CMakeLists.txt): the
// check links one stage's archive whole, with only the stages it may depend on, and
// -Wl,--no-undefined.
